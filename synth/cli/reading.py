"""The CLI's options for reading an export, shared by fit, evaluate and the metadata commands.

Each overrides the same key of the metadata's ``"synth_read"`` object for one run
(:mod:`synth.schema.reading`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from synth.schema.metadata import Metadata

__all__ = ["STRIP", "NA_VALUES", "ENCODING", "SEP", "DECIMAL", "given", "with_read_options", "as_args"]

STRIP = typer.Option(None, "--strip-whitespace/--no-strip-whitespace",
                     help="Strip leading and trailing spaces from text values (\"No \" reads as \"No\"). "
                          "Default: the metadata's synth_read, else off.")
NA_VALUES = typer.Option(None, "--na-values",
                         help="Comma-separated markers read as missing, e.g. '.,NA' (or a number such as -99, "
                              "in every column). Default: the metadata's synth_read.")
ENCODING = typer.Option(None, "--encoding", help="The CSV's text encoding, e.g. cp1252 or latin-1. Default: UTF-8.")
SEP = typer.Option(None, "--sep", help="Column separator, e.g. ';' or tab. Default: ','.")
DECIMAL = typer.Option(None, "--decimal", help="Decimal mark: ',' for decimal commas. Default: '.'.")


def given(strip: Optional[bool], na_values: Optional[str], encoding: Optional[str], sep: Optional[str],
          decimal: Optional[str]) -> dict[str, Any]:
    """The read options given on the command line (None: not given)."""
    return {"strip_whitespace": strip, "na_values": na_values, "encoding": encoding, "sep": sep, "decimal": decimal}


def with_read_options(meta: Path | Metadata, options: dict[str, Any]) -> Path | Metadata:
    """``meta`` (a path is loaded only when an option is given) with the command line's read
    options in its ``synth_read`` (checked); a review marker stays only for the fields the
    command line did not set."""
    if all(v is None for v in options.values()):
        return meta
    from synth.schema.metadata import REVIEW, Metadata  # pandas: only once an option is given
    from synth.schema.reading import READ_KEY

    meta = Metadata.load(meta)
    read = meta.read_options(**options).to_dict()
    old = meta.extra.get(READ_KEY) if isinstance(meta.extra.get(READ_KEY), dict) else {}
    review = [k for k in old.get(REVIEW, []) if options.get(k) is None and k in read]
    meta.extra[READ_KEY] = {**read, **({REVIEW: review} if review else {})}
    return meta


def as_args(options: dict[str, Any]) -> list[str]:
    """The options again as command-line arguments (for the ranks of a fit over several processes)."""
    out: list[str] = []
    for key, value in options.items():
        if value is None:
            continue
        if key == "strip_whitespace":
            out.append("--strip-whitespace" if value else "--no-strip-whitespace")
        else:
            out += [f"--{key.replace('_', '-')}", str(value)]
    return out
