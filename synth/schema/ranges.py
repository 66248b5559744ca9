"""A column's public range at fit: values outside it said by column, its written precision checked.

A numerical or datetime column with a public ``range_min``/``range_max`` is encoded on that
range, so a value beyond it (an age of 150 against a public maximum of 50) is clipped to the
nearest bound (:func:`synth.encode.table.to_unit`). Clipping is what keeps the guarantee: the
range is public and nothing is learnt from where the data sit. Doing it silently is not: a
wrong range, or a unit the range was not written in, would pass unseen.

A numerical column's ``"synth_decimals": D`` (public metadata, like the range) says how many
decimals its sampled values are written with (:mod:`synth.sample.precision`); :func:`read_decimals`
checks it.

Privacy assumption: :func:`warn_outside_ranges` is a check, like
:func:`synth.schema.inequalities.check_data`: it reads the rows on the data holder's machine,
releases and stores nothing, and its one warning names columns and the metadata's keys, never a
value, a row or how many.
"""

from __future__ import annotations

import math
import warnings

import pandas as pd

from synth.errors import SynthError, SynthWarning
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame
from synth.schema.sdtypes import is_number, is_numeric

__all__ = ["DECIMALS", "MAX_DECIMALS", "read_decimals", "check_public_ranges", "outside_public_ranges",
           "warn_outside_ranges"]

DECIMALS = "synth_decimals"  # a numerical column's key: decimals its sampled values are written with
MAX_DECIMALS = 12  # beyond this a float64 of a trial's magnitude has no such decimals to write


def read_decimals(meta: Metadata) -> dict[str, int]:
    """Each numerical column's ``synth_decimals``, checked: a whole number from 0 to
    ``MAX_DECIMALS``; more than 0 only for a ``Float`` column (an integer column has none); and,
    with a public range, at least one value on that grid inside it."""
    out = {}
    for col, spec in meta.columns.items():
        if DECIMALS not in spec:
            continue
        d = spec[DECIMALS]
        if not is_number(spec["sdtype"]):
            raise SynthError(f"metadata: column '{col}' {DECIMALS} is for numerical columns only, got {spec['sdtype']}")
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_DECIMALS:
            raise SynthError(f"metadata: column '{col}' {DECIMALS} must be a whole number from 0 to {MAX_DECIMALS}, "
                             f"got {d!r}")
        if d and str(spec.get("computer_representation", "Float")).lower().startswith(("int", "uint")):
            raise SynthError(f"metadata: column '{col}' is an integer ({spec['computer_representation']}): it is "
                             f"written without decimals, so {DECIMALS} must be 0 or absent, got {d}")
        bounds = meta.public_bounds(col)
        if bounds is not None and math.ceil(round(bounds[0] * 10**d, 6)) > math.floor(round(bounds[1] * 10**d, 6)):
            raise SynthError(f"metadata: column '{col}' has no value with {d} decimals between its range_min and "
                             f"range_max; give more {DECIMALS}")
        out[col] = d
    return out


def check_public_ranges(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> None:
    """At fit: the metadata's ``synth_decimals`` (so a typo stops the fit, not the first sample),
    then :func:`warn_outside_ranges`."""
    read_decimals(meta)
    warn_outside_ranges(df, meta, source, stacklevel=6)  # the caller of Synthesizer.fit, as prepare's warnings


def _public_bounded(meta: Metadata) -> dict[str, tuple[float, float]]:
    """Each numerical or datetime column with a public range (datetimes in seconds since 1970)."""
    out = {}
    for col, spec in meta.columns.items():
        if is_numeric(spec["sdtype"]):
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


def warn_outside_ranges(df: pd.DataFrame, meta: Metadata, source: str = "the CSV", stacklevel: int = 2) -> list[str]:
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
                      SynthWarning, stacklevel=stacklevel)
    return cols
