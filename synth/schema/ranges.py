"""Values outside a column's public range: said at fit, by column, before they are clipped.

A numerical or datetime column with a public ``range_min``/``range_max`` is encoded on that
range, so a value beyond it (an age of 150 against a public maximum of 50) is clipped to the
nearest bound (:func:`synth.encode.table.to_unit`). Clipping is what keeps the guarantee: the
range is public and nothing is learnt from where the data sit. Doing it silently is not: a
wrong range, or a unit the range was not written in, would pass unseen.

Privacy assumption: :func:`warn_outside_ranges` is a check, like
:func:`synth.schema.inequalities.check_data`: it reads the rows on the data holder's machine,
releases and stores nothing, and its one warning names columns and the metadata's keys, never a
value, a row or how many.
"""

from __future__ import annotations

import warnings

import pandas as pd

from synth.errors import SynthWarning
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame

__all__ = ["outside_public_ranges", "warn_outside_ranges"]


def _public_bounded(meta: Metadata) -> dict[str, tuple[float, float]]:
    """Each numerical or datetime column with a public range (datetimes in seconds since 1970)."""
    out = {}
    for col, spec in meta.columns.items():
        if spec["sdtype"] in ("numerical", "datetime"):
            bounds = meta.public_bounds(col)
            if bounds is not None:
                out[col] = bounds
    return out


def outside_public_ranges(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> list[str]:
    """The columns, in metadata order, holding a value below ``range_min`` or above ``range_max``
    (missing values are not outside). ``df`` is the table as read: its bounded columns are
    coerced here as :func:`coerce_frame` does (the same errors for values of the wrong type)."""
    bounded = _public_bounded(meta)
    if not bounded:
        return []
    cols = list(bounded)
    values = coerce_frame(df.rename(columns=str)[cols], Metadata(columns={c: meta.columns[c] for c in cols}), source)
    return [c for c, (lo, hi) in bounded.items() if ((values[c] < lo) | (values[c] > hi)).any()]


def warn_outside_ranges(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> list[str]:
    """One :class:`SynthWarning` naming every column of :func:`outside_public_ranges` (none if
    there is none); returns those columns."""
    cols = outside_public_ranges(df, meta, source)
    if cols:
        named = ", ".join(f"'{c}'" for c in cols)
        one = len(cols) == 1
        its, range_is = ("its", "the range is") if one else ("their", "the ranges are")
        warnings.warn(f"{'column' if one else 'columns'} {named} of {source} {'holds' if one else 'hold'} values "
                      f"outside {its} public range_min/range_max: fit clips them to the range, so no synthetic "
                      f"value goes beyond it. If {range_is} wrong (or in another unit), fix the metadata from the "
                      "protocol or data dictionary, never from the data",
                      SynthWarning, stacklevel=2)
    return cols
