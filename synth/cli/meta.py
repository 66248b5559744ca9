"""``synth metadata …``: draft metadata from an export, review it, convert it for SDV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from synth.errors import SynthError
from synth.cli.reading import DECIMAL, ENCODING, NA_VALUES, SEP, STRIP, given, with_read_options
from synth.options import require_file

__all__ = ["meta_app"]

meta_app = typer.Typer(no_args_is_help=True, help="Draft, review or convert metadata files.")
err = Console(stderr=True)


def _fail(exc: SynthError) -> None:
    from synth.cli import _fail as fail  # the app's one-line error (and --debug)

    fail(exc)


@meta_app.command("infer")
def metadata_infer(
    data: Path = typer.Argument(..., help="CSV to draft metadata from."),
    output: Path = typer.Option(..., "--output", "-o"),
    sequence_key: Optional[str] = typer.Option(None, "--sequence-key", help="Patient id of long-format visits."),
    sequence_index: Optional[str] = typer.Option(None, "--sequence-index", help="Visit time column."),
    strip: Optional[bool] = STRIP, na_values: Optional[str] = NA_VALUES, encoding: Optional[str] = ENCODING,
    sep: Optional[str] = SEP, decimal: Optional[str] = DECIMAL,
) -> None:
    """Draft metadata from a CSV; its ranges are marked private until you review them.

    Padded text values are stripped and missing-value markers (such as '.') that keep a column of
    numbers from being numerical are read as missing; the draft's synth_read says so, for fit.
    """
    try:
        require_file(data, "CSV file")
        from synth.schema.infer import draft_metadata
        from synth.schema.reading import read_csv, read_options

        read = read_options(None, **given(strip, na_values, encoding, sep, decimal))
        meta, notes = draft_metadata(read_csv(str(data), read), table_name=data.stem, sequence_key=sequence_key,
                                     sequence_index=sequence_index, read=read)
        meta.save(output)
    except SynthError as exc:
        _fail(exc)
    err.print(f"wrote {output}", highlight=False)
    for note in notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    err.print("[bold yellow]warning:[/] its range_min/range_max/range_values were copied from the data and are NOT "
              "public. They are marked \"range_public\": false, so `synth fit` ignores them and spends part of ε "
              "to estimate them under DP. Replace them with values from the protocol or a data dictionary and "
              "delete the marker to make them public. Its sdtypes, computer_representation, static columns and "
              "synth_read were read off the data too: each is listed under \"synth_review\" until you check it "
              f"and delete the marker. Next: `synth metadata review {output} {data}`.", highlight=False,
              soft_wrap=True)


@meta_app.command("review")
def metadata_review(
    metadata: Path = typer.Argument(..., help="Metadata JSON (a draft from `synth metadata infer`, or yours)."),
    data: Path = typer.Argument(..., help="The CSV it describes."),
    epsilon: str = typer.Option("1.0", "--epsilon", help="The ε you mean to fit at (costs depend on it)."),
    strip: Optional[bool] = STRIP, na_values: Optional[str] = NA_VALUES, encoding: Optional[str] = ENCODING,
    sep: Optional[str] = SEP, decimal: Optional[str] = DECIMAL,
) -> None:
    """List each column's sdtype, where its domain comes from, what it costs, and what to drop or coarsen.

    Reads the data, but prints no value or exact count of it.
    """
    from synth.cli import _epsilon

    try:
        eps = _epsilon(epsilon)
        if not eps > 0:
            raise SynthError(f"--epsilon must be > 0 (or inf for no privacy), got {epsilon}")
        require_file(metadata, "metadata file")
        require_file(data, "CSV file")
        from synth.schema.metadata import Metadata
        from synth.schema.reading import read_csv
        from synth.release.review import review_metadata

        meta = Metadata.load(with_read_options(metadata, given(strip, na_values, encoding, sep, decimal)))
        from synth.schema.validate import listed_only

        result = review_metadata(meta, listed_only(read_csv(str(data), meta.read_options()), meta), eps, f"'{data}'")
    except SynthError as exc:
        _fail(exc)
    out = Console()  # made here, so that it takes the terminal's width (COLUMNS) at this run
    table = Table(title=f"review of {metadata}")
    for name in ("column", "sdtype", "domain", "DP cost (patients needed)", "to do"):
        table.add_column(name, overflow="fold")
    for c in result.columns:
        table.add_row(c.column, c.sdtype, c.domain, c.cost, "; ".join(c.todo))
    out.print(table)
    for line in result.summary:
        out.print(line, highlight=False, soft_wrap=True)
    if result.suggested:
        out.print(f"suggested to drop or coarsen: {', '.join(result.suggested)}", highlight=False, soft_wrap=True)


@meta_app.command("export-sdv")
def metadata_export_sdv(
    metadata: Path = typer.Argument(..., help="synth metadata JSON."),
    output: Path = typer.Option(..., "--output", "-o"),
) -> None:
    """Write the metadata without range_* keys, for SDV (whose validator rejects them)."""
    try:
        require_file(metadata, "metadata file")
        from synth.schema.metadata import Metadata

        Metadata.load(metadata).save(output, strip_domain=True)
    except SynthError as exc:
        _fail(exc)
