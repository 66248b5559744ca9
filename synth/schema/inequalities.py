"""Inequalities between columns: public facts of the schema, kept in every synthetic row.

A trial's schema often says that one time cannot come after another: progression before death
or last contact (mgus2's ``ptime`` ≤ ``futime``), recurrence before death (``rtime`` ≤
``dtime``). The metadata states them at the top level::

    "synth_inequalities": [{"low": "ptime", "high": "futime"}]

and sampling post-processes every synthetic row to keep them (:func:`apply_inequalities`):
where ``low`` exceeds ``high``, ``high`` is raised to ``low``. Real data with a censored
event time usually hold many rows with the two equal, and raising makes such rows too. A row
with either value missing is left as it is. Of three rules compared on three trial tables
(bench/RESULTS.md item 69: lower ``low``, raise ``high``, swap them), raising gave the highest
quality, with the downstream ratio level.

Privacy assumption: the pairs are public metadata. :func:`check_data` reads real rows only to
stop ``fit`` with an error naming the columns, never a row or how many (nothing is stored or
released); everything else
is post-processing of generated values and of the released domains, and costs no ε.

The same key also holds implications between a numerical and a categorical column ("GA < 259
days ⇒ preterm"): :mod:`synth.schema.implications`.

Notes: the guarantee assumes each pair comes from the study design, like the ranges. A pair
chosen because the data happen to keep it (say, from scanning the real table for orderings
that hold) makes that ordering a fact about the patients released outside the ledger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.privacy.domain import ColumnDomain
from synth.encode.table import _numeric_series, value_step
from synth.errors import FIX_IN_METADATA, SynthError
from synth.schema.implications import check_implications, read_implications
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame
from synth.schema.timestamps import epoch_seconds

__all__ = ["Inequality", "read_inequalities", "check_data", "ceilings", "check_never_lowered", "apply_inequalities"]

KEY = "synth_inequalities"


@dataclass(frozen=True)
class Inequality:
    """``low`` ≤ ``high`` in every row where both are present."""

    low: str
    high: str


def read_inequalities(meta: Metadata) -> list[Inequality]:
    """The metadata's ``synth_inequalities``, checked: each names two different columns, both
    numerical or both datetimes in one ``datetime_format`` (not the sequence key or index); in
    visit data a static ``high`` needs a static ``low`` (raising a static value to a per-visit
    one would make it vary within the patient)."""
    spec = meta.extra.get(KEY, [])
    if not isinstance(spec, list):
        raise SynthError(f'metadata: {KEY} must be a list of {{"low": COLUMN, "high": COLUMN}} objects')
    static = set(meta.extra.get("synth_sequence", {}).get("static_columns", [])) if meta.sequence_key else None
    read_implications(meta)  # the entries with "if" (synth.schema.implications), checked here too
    out = []
    for item in spec:
        if isinstance(item, dict) and "if" in item:
            continue
        if not isinstance(item, dict) or set(item) != {"low", "high"}:
            raise SynthError(f'metadata: {KEY} entries must be {{"low": COLUMN, "high": COLUMN}} or '
                             f'{{"if": {{...}}, "then": {{...}}}} (docs/metadata.md), got {item!r}')
        pair = Inequality(str(item["low"]), str(item["high"]))
        for role, col in (("low", pair.low), ("high", pair.high)):
            if col not in meta.columns:
                raise SynthError(f"metadata: {KEY} {role} column '{col}' is not one of the columns")
            if meta.sdtype(col) not in ("numerical", "datetime") or col in (meta.sequence_key, meta.sequence_index):
                raise SynthError(f"metadata: {KEY} {role} column '{col}' must be a numerical or datetime column "
                                 f"(not the sequence key or index), got {meta.sdtype(col)}")
        if pair.low == pair.high:
            raise SynthError(f"metadata: {KEY} compares column '{pair.low}' with itself")
        low, high = meta.columns[pair.low], meta.columns[pair.high]
        if (low["sdtype"], low.get("datetime_format")) != (high["sdtype"], high.get("datetime_format")):
            raise SynthError(f"metadata: {KEY} columns '{pair.low}' and '{pair.high}' must have the same sdtype "
                             "(and, for datetimes, the same datetime_format)")
        if static is not None and pair.high in static and pair.low not in static:
            raise SynthError(f"metadata: {KEY} high column '{pair.high}' is static, so its low column "
                             f"'{pair.low}' must be static too")
        out.append(pair)
    return out


def check_data(df: pd.DataFrame, pairs: list[Inequality], meta: Metadata, source: str) -> None:
    """Stop ``fit`` if a real row breaks a stated inequality or implication (the metadata would
    not be a fact).

    Privacy assumption: the error names the columns and the rule, never a row or how many; nothing
    is released.
    """
    check_implications(df, read_implications(meta), meta, source)
    cols = sorted({c for p in pairs for c in (p.low, p.high)})
    if not cols:
        return
    values = coerce_frame(df.rename(columns=str)[cols], Metadata(columns={c: meta.columns[c] for c in cols}), source)
    for pair in pairs:
        if (values[pair.low] > values[pair.high]).any():
            raise SynthError(f"{source}: column '{pair.low}' exceeds '{pair.high}' in some rows, but the "
                             f"metadata's {KEY} says {pair.low} <= {pair.high}; {FIX_IN_METADATA}")


def ceilings(pairs: list[Inequality], columns: dict[str, ColumnDomain]) -> dict[str, float]:
    """Each constrained column's greatest value: its domain maximum (rounded down to the grid its
    values are written on: whole numbers, days), or the ceiling of a column it must not exceed,
    whichever is smaller (to a fixed point, so chains carry).

    ``columns`` holds each constrained column's released domain. A ceiling below the column's
    minimum means no value satisfies both: a SynthError naming the column.
    """
    ceiling = {c: _down(columns[c].hi, columns[c]) for p in pairs for c in (p.low, p.high)}
    for _ in _passes(pairs):
        lowered = [p for p in pairs if ceiling[p.low] > ceiling[p.high]]
        for p in lowered:
            ceiling[p.low] = _down(ceiling[p.high], columns[p.low])
        if not lowered:
            break
    for c, top in ceiling.items():
        if top < columns[c].lo:
            raise SynthError(f"{KEY}: column '{c}' would need values <= {top:g}, below its range's minimum "
                             f"{columns[c].lo:g}; the metadata's ranges contradict its inequalities")
    return ceiling


def check_never_lowered(column: str, ceiling: dict[str, float], columns: dict[str, ColumnDomain], why: str) -> None:
    """Stop if the rule could lower ``column`` (its ceiling is below its range's maximum): a rule
    applied before this one (``why``) has already used its value."""
    if column in ceiling and ceiling[column] < _down(columns[column].hi, columns[column]):
        raise SynthError(f"{KEY}: column '{column}' must not exceed a column whose range ends at {ceiling[column]:g}, "
                         f"so sampling would lower it, but {why}; set its range's maximum to at most "
                         f"{ceiling[column]:g}")


def apply_inequalities(frame: pd.DataFrame, pairs: list[Inequality], ceiling: dict[str, float],
                       columns: dict[str, ColumnDomain]) -> pd.DataFrame:
    """Post-processing: lower each constrained value above its :func:`ceilings` entry to it, then
    raise each ``high`` below its ``low`` to that value (rounded up to ``high``'s grid), until
    every pair holds. Values only rise, so this ends. Missing values stay missing; other
    columns, and values the rule leaves alone, are untouched."""
    if not pairs:
        return frame
    out = frame.copy()
    before = {c: _numbers(out[c], columns[c]) for c in ceiling}
    values = {c: np.where(v > ceiling[c], ceiling[c], v) for c, v in before.items()}
    for _ in _passes(pairs):
        changed = False
        for p in pairs:
            bad = values[p.low] > values[p.high]  # False where either is missing
            if bad.any():
                values[p.high] = np.where(bad, _up(values[p.low], columns[p.high]), values[p.high])
                changed = True
        if not changed:
            break
    for c, v in values.items():
        moved = (v != before[c]) & ~np.isnan(before[c])
        if moved.any():
            out[c] = out[c].where(~moved, _written(v, columns[c], out[c]))
    return out


def _numbers(s: pd.Series, col: ColumnDomain) -> np.ndarray:
    """Written values as numbers on the domain's scale (datetimes: seconds since 1970)."""
    if col.sdtype == "datetime":
        parsed = pd.to_datetime(s, format=col.datetime_format) if col.datetime_format else pd.to_datetime(s)
        return epoch_seconds(parsed)
    return s.to_numpy(dtype=float, na_value=np.nan)


def _written(values: np.ndarray, col: ColumnDomain, like: pd.Series) -> pd.Series:
    """Numbers back as ``like``'s values are written (its dtype; datetimes in their format)."""
    if col.sdtype == "datetime":
        s = _numeric_series(col, np.nan_to_num(values), np.isnan(values))
    else:
        s = pd.Series(values).astype(like.dtype)
    return s.set_axis(like.index)


def _down(value: float, col: ColumnDomain) -> float:
    step = value_step(col)
    if step and step < 1:  # D decimals: counted in 10^-D, so that 0.3 stays 0.3 (0.3 / 0.1 < 3)
        per = round(1 / step)
        return math.floor(round(value * per, 6)) / per
    return math.floor(value / step) * step if step else float(value)


def _up(values: np.ndarray, col: ColumnDomain) -> np.ndarray:
    step = value_step(col)
    if step and step < 1:
        per = round(1 / step)
        return np.ceil(np.round(values * per, 6)) / per
    return np.ceil(values / step) * step if step else values


def _passes(pairs: list[Inequality]) -> range:
    """Enough passes over the pairs for a value to travel the longest chain (or cycle) of them."""
    return range(len(pairs) + 2)
