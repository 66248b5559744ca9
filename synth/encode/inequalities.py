"""The inequalities' half that reads the released domains: each constrained column's ceiling
(fit) and the rows kept at sampling (post-processing of generated values and released domains;
no ε). The declaration and its check on real data are :mod:`synth.schema.inequalities`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synth.encode.table import _numeric_series, value_step
from synth.errors import SynthError
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.inequalities import KEY, Inequality, read_inequalities
from synth.schema.metadata import Metadata
from synth.schema.sequence import slot_name
from synth.schema.timestamps import epoch_seconds

__all__ = ["ceilings", "check_never_lowered", "inequality_rule", "apply_inequalities"]


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


def inequality_rule(meta: Metadata, domain: Domain) -> tuple[list[Inequality], dict[str, float], dict]:
    """The metadata's inequalities with each constrained column's ceiling and released domain (a
    visit column's domain is its first slot's)."""
    pairs = read_inequalities(meta)
    doms = {c.name: c for c in domain.columns}
    cols = {c: doms[c] if c in doms else doms[slot_name(c, 0)] for p in pairs for c in (p.low, p.high)}
    ceiling = ceilings(pairs, cols)
    end = (meta.extra.get("synth_sequence") or {}).get("follow_up_end") if meta.sequence_key else None
    if end is not None:  # visits are ended at its value before the inequalities run
        check_never_lowered(end, ceiling, cols, "it is synth_sequence.follow_up_end and visits are ended at it first")
    return pairs, ceiling, cols


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
