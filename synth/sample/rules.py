"""The rules' sampling halves: every synthetic row post-processed to keep the metadata's
inequalities (``low`` ≤ ``high``) and implications (a numerical threshold fixes a category).

Post-processing of generated values, the released domains and public metadata only: no real
row is read here and no ε is spent. Reading and checking the rules (on real data, during
``fit``) stay in :mod:`synth.schema.inequalities` and :mod:`synth.schema.implications`; the
ceilings from the released domains in :mod:`synth.encode.inequalities`. Reading a real row
here would void the guarantee.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.encode.inequalities import passes
from synth.encode.table import numeric_series, value_step
from synth.privacy.domain import ColumnDomain
from synth.schema.implications import Implication
from synth.schema.inequalities import Inequality
from synth.schema.timestamps import epoch_seconds
from synth.schema.sdtypes import is_datetime

__all__ = ["apply_inequalities", "apply_implications"]


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
    for _ in passes(pairs):
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
    if is_datetime(col.sdtype):
        parsed = pd.to_datetime(s, format=col.datetime_format) if col.datetime_format else pd.to_datetime(s)
        return epoch_seconds(parsed)
    return s.to_numpy(dtype=float, na_value=np.nan)


def _written(values: np.ndarray, col: ColumnDomain, like: pd.Series) -> pd.Series:
    """Numbers back as ``like``'s values are written (its dtype; datetimes in their format)."""
    if is_datetime(col.sdtype):
        s = numeric_series(col, np.nan_to_num(values), np.isnan(values))
    else:
        s = pd.Series(values).astype(like.dtype)
    return s.set_axis(like.index)



def _up(values: np.ndarray, col: ColumnDomain) -> np.ndarray:
    step = value_step(col)
    if step and step < 1:
        per = round(1 / step)
        return np.ceil(np.round(values * per, 6)) / per
    return np.ceil(values / step) * step if step else values


def apply_implications(frame: pd.DataFrame, rules: list[Implication]) -> pd.DataFrame:
    """Post-processing: in each row where a rule's condition holds and its ``then`` column is
    present, set that column to the rule's value (rules in order: a later one wins). Other
    values are untouched."""
    if not rules:
        return frame
    out = frame.copy()
    for rule in rules:
        number = pd.to_numeric(out[rule.column], errors="coerce").to_numpy(dtype=float)
        target = out[rule.then_column]
        set_here = rule.holds(number) & target.notna().to_numpy()
        if set_here.any():
            value = rule.value
            numeric = (pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
                       and isinstance(value, (int, float)) and not isinstance(value, bool))
            if numeric and float(value).is_integer() and pd.api.types.is_integer_dtype(target):
                value = target.dtype.type(int(value))  # the column keeps its dtype in every chunk
            elif not numeric and target.dtype != object and not isinstance(value, bool) and not (
                    isinstance(value, str) and pd.api.types.is_string_dtype(target)
                    and not isinstance(target.dtype, pd.CategoricalDtype)):  # pandas 3's str keeps
                target = target.astype(object)
            out[rule.then_column] = target.where(~set_here, value)
    return out
