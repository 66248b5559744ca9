"""``synth evaluate``: compare a synthetic CSV with the real one (and a holdout).

It reads real data, as the report says at its top; nothing it computes enters a model file,
a sidecar or the synthetic CSV (:mod:`synth.eval`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import synth.cli as base  # err and out are looked up there at each use (tests replace them)
from synth.cli import _fail, _heavy, app
from synth.cli.reading import DECIMAL, ENCODING, NA_VALUES, SEP, STRIP, given
from synth.cli.show import show_summary, show_verdict
from synth.errors import SynthError
from synth.options import require_file

__all__ = ["evaluate_cmd"]


@app.command("evaluate")
def evaluate_cmd(
    real: Path = typer.Option(..., "--real", help="Real CSV the synthetic data was trained on."),
    synthetic: Path = typer.Option(..., "--synthetic", help="Synthetic CSV (from synth or any other tool)."),
    metadata: Path = typer.Option(..., "--metadata", "-m", help="Metadata JSON (SDV format)."),
    output: Path = typer.Option(..., "--output", "-o", help="HTML report to write (self-contained)."),
    target: Optional[str] = typer.Option(None, "--target", help="Categorical column to predict (TSTR vs TRTR)."),
    holdout: Optional[Path] = typer.Option(None, "--holdout",
                                           help="Real patients the generator never saw (from synth split)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write every number as JSON."),
    seed: int = typer.Option(0, "--seed"),
    arm: Optional[str] = typer.Option(
        None, "--arm", help="Arm column whose effects to compare on real and synthetic data (with --outcome; "
                            "replaces the metadata's synth_analysis)."),
    outcome: Optional[List[str]] = typer.Option(
        None, "--outcome", help="Outcome column of the arm effect (repeatable): binary → logistic, numerical → OLS."),
    covariate: Optional[List[str]] = typer.Option(
        None, "--covariate", help="Covariate to adjust the arm effects for (repeatable)."),
    strip: Optional[bool] = STRIP, na_values: Optional[str] = NA_VALUES, encoding: Optional[str] = ENCODING,
    sep: Optional[str] = SEP, decimal: Optional[str] = DECIMAL,
) -> None:
    """Compare a synthetic CSV with the real one: fidelity, utility, the trial's analysis, sequences,
    privacy risk.

    The real and holdout CSVs are read as the metadata's synth_read and the options say; the
    synthetic one as `synth sample` writes it (UTF-8, commas), cleaned the same way.
    """
    try:
        for path in (real, synthetic, holdout):
            if path is not None:
                require_file(path, "CSV file")
        require_file(metadata, "metadata file")
    except SynthError as exc:
        _fail(exc)
    from synth.eval import evaluate

    read_csv = _heavy("read_csv")
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=base.err)
    task = None

    def progress(step: str, i: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(step, total=total)
        bar.update(task, completed=i - 1, description=step)

    try:
        sidecar = Path(f"{synthetic}.privacy.json")
        privacy = json.loads(sidecar.read_text()) if sidecar.is_file() else None
        meta = _heavy("Metadata").load(metadata)
        read = meta.read_options(**given(strip, na_values, encoding, sep, decimal))
        written = _heavy("ReadOptions")(strip_whitespace=read.strip_whitespace, na_values=read.na_values)
        from synth.schema.validate import listed_only

        frames = [listed_only(read_csv(str(p), written if p == synthetic else read), meta) if p is not None else None
                  for p in (real, synthetic, holdout)]
        try:
            report = evaluate(frames[0], frames[1], metadata, target=target, holdout=frames[2], seed=seed,
                              privacy=privacy, progress=progress, arm=arm, outcomes=outcome, covariates=covariate)
        finally:
            bar.stop()
        report.to_html(output)
        if json_out is not None:
            report.to_json(json_out)
    except SynthError as exc:
        _fail(exc)
    show_summary(base.out, report.summary(), report.results.get("warnings", []))
    show_verdict(base.out, report.results.get("verdict"))
    base.err.print(f"wrote {output}" + (f" and {json_out}" if json_out else ""), highlight=False)
