"""``synth split``: a holdout of real patients set aside before the fit (see :mod:`synth.io.split`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from synth.cli import _fail, app, err
from synth.errors import SynthError
from synth.options import require_file

__all__ = ["split"]


@app.command()
def split(
    data: Path = typer.Argument(..., help="CSV of real patients to split."),
    test: float = typer.Option(0.2, "--test", help="Share of the patients set aside as the holdout, in (0, 1)."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV of the other patients: fit on this one."),
    holdout: Path = typer.Option(..., "--holdout", help="CSV of the holdout: give it to synth evaluate --holdout."),
    metadata: Optional[Path] = typer.Option(
        None, "--metadata", "-m", help="Metadata JSON: its sequence_key or primary_key keeps each patient's rows "
                                       "in one file. Without it, each row is a patient."),
    seed: int = typer.Option(0, "--seed", help="Same CSV and seed, same split."),
) -> None:
    """Set real patients aside before the fit, so that synth evaluate's figures are honest."""
    try:
        if len({p.resolve() for p in (data, output, holdout)}) == 3:  # else split_csv says why, as it did
            require_file(data, "CSV file")
            if metadata is not None:
                require_file(metadata, "metadata file")
        from synth.io.split import split_csv  # pandas: once the CSV is there

        key = split_csv(data, test, output, holdout, metadata, seed)
    except SynthError as exc:
        _fail(exc)
    unit = f"patients (all rows of each '{key}' in one file)" if key else "rows"
    err.print(f"wrote {holdout} ({test:.0%} of the {unit}, seed {seed}) and {output} (the others: fit on it)",
              highlight=False, soft_wrap=True)
    if key is None:
        err.print("[bold yellow]warning:[/] split by row: "
                  + ("the metadata names no patient id (sequence_key or primary_key), so a patient on several rows "
                     "may be in both files" if metadata else "give -m metadata.json to keep each patient's rows "
                     "in one file"), highlight=False, soft_wrap=True)
