"""Running hostile cases (:mod:`bench.dev.fuzzing`) through the CLI in this process.

:func:`run_case` says how a case ended: ``worked`` (a model, a CSV and its sidecar, the CSV
passing the metadata's checks), ``rejected`` (exit code 2, one ``error:`` line, no traceback,
no output file, no temporary file left) or ``failed`` (anything else: a bug).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import synth.cli
import synth.privacy.accountant
from synth.cli import app
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame
from synth.synthesizer import Synthesizer
from bench.dev.fuzzing import Case, EvaluateCase

__all__ = ["Outcome", "TinySynthesizer", "run_case", "run_evaluate_case", "summary"]

TINY = dict(g_hidden=8, d_hidden=8, noise_dim=4, pretrain_steps=5, epochs=1)
# RDP at a dozen orders: a valid (looser) bound, and σ calibrated in a tenth of the time
COARSE_ALPHAS = [1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64, 128]

class TinySynthesizer(Synthesizer):
    """The CLI's synthesizer with a few-second fit: small nets, five pretraining steps, one epoch."""

    def __init__(self, *args, **train):
        super().__init__(*args, **{**TINY, **train})


@dataclass
class Outcome:
    kind: str  # worked | rejected | failed
    stage: str  # fit | sample
    detail: str


_runner = CliRunner()


def _invoke(args: list[str]):
    return _runner.invoke(app, args, env={"COLUMNS": "200"})


def _clean_exit(result, outputs: list[Path], folder: Path) -> str | None:
    """Why a non-zero exit is not a clean rejection, or None when it is."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if result.exit_code != 2:
        return f"exit {result.exit_code}: {result.stderr.strip()[-300:]!r}"
    if "Traceback" in result.output or not lines or not lines[-1].startswith("error:"):
        return f"not one error line: {result.stderr!r}"
    if sum(line.startswith("error:") for line in lines) != 1:
        return f"several error lines: {result.stderr!r}"
    left = [p.name for p in outputs if p.exists()] + [p.name for p in folder.glob(".*.tmp")]
    return f"output left behind: {left}" if left else None


def run_case(case: Case, folder: Path) -> Outcome:
    """Run ``case`` through `synth fit` and, when that works, `synth sample`, in ``folder``."""
    data, meta, model, out = (folder / n for n in ("data.csv", "meta.json", "model.synth", "out.csv"))
    sidecar = folder / "out.csv.privacy.json"
    data.write_bytes(case.csv)
    meta.write_bytes(case.metadata)
    original, synth.cli.Synthesizer = synth.cli.Synthesizer, TinySynthesizer
    alphas, synth.privacy.accountant.ALPHAS = synth.privacy.accountant.ALPHAS, COARSE_ALPHAS
    try:
        fit = _invoke(["fit", str(data), "-m", str(meta), "-o", str(model), *case.fit_args])
        if fit.exit_code != 0:
            why = _clean_exit(fit, [model], folder)
            return Outcome("failed" if why else "rejected", "fit", why or fit.stderr.strip().splitlines()[-1])
        if not model.is_file():
            return Outcome("failed", "fit", "exit 0 without a model file")
        drawn = _invoke(["sample", str(model), "-o", str(out), *case.sample_args])
    finally:
        synth.cli.Synthesizer, synth.privacy.accountant.ALPHAS = original, alphas
    if drawn.exit_code != 0:
        why = _clean_exit(drawn, [out, sidecar], folder)
        if why is None and "model file" in drawn.stderr:
            why = f"the model `synth fit` wrote does not load: {drawn.stderr.strip()}"
        return Outcome("failed" if why else "rejected", "sample", why or drawn.stderr.strip().splitlines()[-1])
    if not (out.is_file() and sidecar.is_file()):
        return Outcome("failed", "sample", "exit 0 without the CSV and its sidecar")
    return _check_output(out, sidecar, meta)


def _check_output(out: Path, sidecar: Path, meta_path: Path) -> Outcome:
    """The sampled CSV passes the checks `synth fit` puts real data through, and the sidecar's
    row count matches it."""
    rows = json.loads(sidecar.read_text())["rows"]
    try:
        df = pd.read_csv(out, low_memory=False)
    except pd.errors.EmptyDataError:
        return Outcome("failed", "sample", "the CSV is empty, without even a header")
    meta = Metadata.load(meta_path)
    patients = df[meta.sequence_key].nunique() if meta.sequence_key and len(df) else len(df)
    if patients != rows:
        return Outcome("failed", "sample", f"{patients} rows/patients written, the sidecar says {rows}")
    if len(df):
        try:
            coerce_frame(df, meta, "the synthetic CSV")
        except Exception as exc:  # noqa: BLE001 - any failure here is the finding
            return Outcome("failed", "sample", f"synthetic CSV fails the metadata's checks: {exc}")
    return Outcome("worked", "sample", f"{rows} rows")


def summary(outcomes: list[Outcome]) -> dict[str, int]:
    """Counts by outcome and stage: ``{"worked": .., "rejected at fit": .., ...}``."""
    counts: dict[str, int] = {}
    for o in outcomes:
        key = o.kind if o.kind == "worked" else f"{o.kind} at {o.stage}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def run_evaluate_case(case: EvaluateCase, folder: Path) -> Outcome:
    real, syn, meta, report = (folder / n for n in ("real.csv", "syn.csv", "meta.json", "report.html"))
    real.write_bytes(case.real)
    syn.write_bytes(case.synthetic)
    meta.write_bytes(case.metadata)
    r = _invoke(["evaluate", "--real", str(real), "--synthetic", str(syn), "-m", str(meta), "-o", str(report),
                 *case.args])
    if r.exit_code == 0:
        return Outcome("worked" if report.is_file() else "failed", "evaluate",
                       "" if report.is_file() else "exit 0 without a report")
    why = _clean_exit(r, [report], folder)
    return Outcome("failed" if why else "rejected", "evaluate", why or r.stderr.strip().splitlines()[-1])
