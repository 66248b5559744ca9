"""``synth sample``, ``synth info`` and ``synth demo``: the commands that read a model file (and
the demo, which fits the bundled ACTG175 first). Sampling is post-processing."""

from __future__ import annotations

import json
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Optional

import typer

import synth.cli as base  # err, out and bundled are looked up there at each use (tests replace them)
from synth.cli import DEVICE_HELP, THREADS_HELP, _epsilon, _fail, _heavy, app
from synth.cli.fit_command import _fit
from synth.cli.show import show_info
from synth.errors import SynthError
from synth.options import device_name, require_file
from synth.threads import threads_for

__all__ = ["sample", "info", "demo"]


@app.command()
def sample(
    model: Path = typer.Argument(..., help="Model file from `synth fit`."),
    n: int = typer.Option(..., "-n", "--rows", help="Number of synthetic patients."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV to write (plus <csv>.privacy.json)."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same model → byte-identical CSV."),
    condition: Optional[str] = typer.Option(None, "--condition", help="LABEL=VALUE: every row gets that label."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    threads: Optional[int] = typer.Option(None, "--threads", help=THREADS_HELP),
) -> None:
    """Write synthetic rows to a CSV and its privacy statement beside it."""
    try:
        require_file(model, "model file")
        device_name(device)
        threads_for(threads)
        synth = _heavy("Synthesizer").load(model, device=device, threads=threads)
        synth.write_csv(output, n, seed=seed, condition=condition, model_path=model)
    except SynthError as exc:
        _fail(exc)
    unit = "patients (all their visits)" if synth.metadata.sequence_key else "rows"
    base.err.print(f"wrote {n} {unit} to {output} and {output}.privacy.json", highlight=False)


@app.command()
def info(
    model: Path = typer.Argument(..., help="Model file."),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """Show a model's schema, privacy ledger and training summary."""
    try:
        require_file(model, "model file")
        details = _heavy("Synthesizer").load(model).info()
    except SynthError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(details, indent=2, default=str))
    else:
        show_info(base.out, details)


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("synth-demo"), "--output-dir", help="Where to write the demo files."),
    epsilon: str = typer.Option("1.0", "--epsilon"),
    rows: int = typer.Option(1000, "-n", "--rows"),
) -> None:
    """Fit ACTG175 (bundled) at ε = 1 with label `cens`, then sample a synthetic CSV."""
    try:
        if not base.bundled("actg175.csv").is_file():
            raise SynthError("bundled data not found in the installed package synth (synth/data/actg175.csv): "
                             "reinstall synth")
        model = output_dir / "actg175.synth"
        with ExitStack() as files:  # a real path even where the package is zipped
            data, meta = (files.enter_context(resources.as_file(base.bundled(f"actg175.{ext}"))) for ext in ("csv", "json"))
            synth = _fit(data, meta, "cens", _epsilon(epsilon), None, model)
        csv = output_dir / "synthetic.csv"
        synth.write_csv(csv, rows, seed=0, model_path=model)
    except SynthError as exc:
        _fail(exc)
    base.err.print(f"wrote {rows} synthetic patients to {csv} (privacy statement: {csv}.privacy.json)")
    base.out.print(_heavy("read_csv")(str(csv)).head(5).to_string())
