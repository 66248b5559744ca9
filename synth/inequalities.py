"""Inequalities between numerical columns: public facts of the schema, kept in every synthetic row.

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
stop ``fit`` with an error to the data holder (nothing is stored or released); everything else
is post-processing of generated values and of the released domains, and costs no ε.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.metadata import Metadata

__all__ = ["Inequality", "read_inequalities", "check_data", "ceilings", "apply_inequalities"]

KEY = "synth_inequalities"


@dataclass(frozen=True)
class Inequality:
    """``low`` ≤ ``high`` in every row where both are present."""

    low: str
    high: str


def read_inequalities(meta: Metadata) -> list[Inequality]:
    """The metadata's ``synth_inequalities``, checked: each names two different numerical columns
    (not the sequence key or index); in visit data a static ``high`` needs a static ``low``
    (raising a static value to a per-visit one would make it vary within the patient)."""
    spec = meta.extra.get(KEY, [])
    if not isinstance(spec, list):
        raise SynthError(f'metadata: {KEY} must be a list of {{"low": COLUMN, "high": COLUMN}} objects')
    static = set(meta.extra.get("synth_sequence", {}).get("static_columns", [])) if meta.sequence_key else None
    out = []
    for item in spec:
        if not isinstance(item, dict) or set(item) != {"low", "high"}:
            raise SynthError(f'metadata: {KEY} entries must be {{"low": COLUMN, "high": COLUMN}}, got {item!r}')
        pair = Inequality(str(item["low"]), str(item["high"]))
        for role, col in (("low", pair.low), ("high", pair.high)):
            if col not in meta.columns:
                raise SynthError(f"metadata: {KEY} {role} column '{col}' is not one of the columns")
            if meta.sdtype(col) != "numerical" or col in (meta.sequence_key, meta.sequence_index):
                raise SynthError(f"metadata: {KEY} {role} column '{col}' must be a numerical column "
                                 f"(not the sequence key or index), got {meta.sdtype(col)}")
        if pair.low == pair.high:
            raise SynthError(f"metadata: {KEY} compares column '{pair.low}' with itself")
        if static is not None and pair.high in static and pair.low not in static:
            raise SynthError(f"metadata: {KEY} high column '{pair.high}' is static, so its low column "
                             f"'{pair.low}' must be static too")
        out.append(pair)
    return out


def check_data(frame: pd.DataFrame, pairs: list[Inequality], source: str) -> None:
    """Stop ``fit`` if a real row breaks a stated inequality (the metadata would not be a fact).

    Privacy assumption: the error goes to the data holder only; nothing is released.
    """
    for pair in pairs:
        low, high = (pd.to_numeric(frame[c], errors="coerce") for c in (pair.low, pair.high))
        bad = int((low > high).sum())
        if bad:
            raise SynthError(f"{source}: column '{pair.low}' exceeds '{pair.high}' in {bad} row(s), but the "
                             f"metadata's {KEY} says {pair.low} <= {pair.high}")


def ceilings(pairs: list[Inequality], lows: dict[str, float], highs: dict[str, float],
             integer: dict[str, bool]) -> dict[str, float]:
    """Each constrained column's greatest value: its domain maximum (rounded down for an integer
    column), or the ceiling of a column it must not exceed, whichever is smaller (to a fixed
    point, so chains carry).

    ``lows``/``highs``/``integer`` describe each column's released domain. A ceiling below the
    column's minimum means no value satisfies both: a SynthError naming the column.
    """
    ceiling = {c: math.floor(highs[c]) if integer[c] else float(highs[c]) for p in pairs for c in (p.low, p.high)}
    for _ in _passes(pairs):
        lowered = [p for p in pairs if ceiling[p.low] > ceiling[p.high]]
        for p in lowered:
            ceiling[p.low] = math.floor(ceiling[p.high]) if integer[p.low] else ceiling[p.high]
        if not lowered:
            break
    for c, top in ceiling.items():
        if top < lows[c]:
            raise SynthError(f"{KEY}: column '{c}' would need values <= {top:g}, below its range's minimum "
                             f"{lows[c]:g}; the metadata's ranges contradict its inequalities")
    return ceiling


def apply_inequalities(frame: pd.DataFrame, pairs: list[Inequality], ceiling: dict[str, float],
                       integer: dict[str, bool]) -> pd.DataFrame:
    """Post-processing: lower each constrained value above its :func:`ceilings` entry to it, then
    raise each ``high`` below its ``low`` to that value (rounded up for an integer ``high``),
    until every pair holds. Values only rise, so this ends. Missing values stay missing; other
    columns are untouched."""
    if not pairs:
        return frame
    out = frame.copy()
    values = {c: out[c].to_numpy(dtype=float, na_value=np.nan) for c in ceiling}
    for c, top in ceiling.items():
        values[c] = np.where(values[c] > top, top, values[c])
    for _ in _passes(pairs):
        changed = False
        for p in pairs:
            bad = values[p.low] > values[p.high]  # False where either is missing
            if bad.any():
                up = np.ceil(values[p.low]) if integer[p.high] else values[p.low]
                values[p.high] = np.where(bad, up, values[p.high])
                changed = True
        if not changed:
            break
    for c, v in values.items():
        out[c] = pd.Series(v, index=out.index).astype(out[c].dtype)
    return out


def _passes(pairs: list[Inequality]) -> range:
    """Enough passes over the pairs for a value to travel the longest chain (or cycle) of them."""
    return range(len(pairs) + 2)
