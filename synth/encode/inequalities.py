"""The inequalities' half that reads the released domains: each constrained column's ceiling
(fit; released domains only, no ε). The rows kept at sampling are
:func:`synth.sample.rules.apply_inequalities`; the declaration and its check on real data are
:mod:`synth.schema.inequalities`.
"""

from __future__ import annotations

import math

from synth.encode.table import value_step
from synth.errors import SynthError
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.inequalities import KEY, Inequality, read_inequalities
from synth.schema.metadata import Metadata
from synth.schema.sequence import slot_name

__all__ = ["ceilings", "check_never_lowered", "checked_rule", "inequality_rule", "passes"]


def ceilings(pairs: list[Inequality], columns: dict[str, ColumnDomain]) -> dict[str, float]:
    """Each constrained column's greatest value: its domain maximum (rounded down to the grid its
    values are written on: whole numbers, days), or the ceiling of a column it must not exceed,
    whichever is smaller (to a fixed point, so chains carry).

    ``columns`` holds each constrained column's released domain. A ceiling below the column's
    minimum means no value satisfies both: a SynthError naming the column.
    """
    ceiling = {c: _down(columns[c].hi, columns[c]) for p in pairs for c in (p.low, p.high)}
    for _ in passes(pairs):
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
    visit column's domain is its first slot's): :func:`checked_rule`, read off the metadata."""
    pairs = read_inequalities(meta)
    end = (meta.extra.get("synth_sequence") or {}).get("follow_up_end") if meta.sequence_key else None
    return checked_rule(pairs, domain, end)


def checked_rule(pairs: list[Inequality], domain: Domain, end: str | None
                 ) -> tuple[list[Inequality], dict[str, float], dict]:
    """``pairs`` (the metadata's inequalities, read) with each constrained column's ceiling and
    released domain; ``end``: a visit sequence's ``follow_up_end`` column, or None. Stops with one
    line where the ranges contradict the inequalities."""
    doms = {c.name: c for c in domain.columns}
    cols = {c: doms[c] if c in doms else doms[slot_name(c, 0)] for p in pairs for c in (p.low, p.high)}
    ceiling = ceilings(pairs, cols)
    if end is not None:  # visits are ended at its value before the inequalities run
        check_never_lowered(end, ceiling, cols, "it is synth_sequence.follow_up_end and visits are ended at it first")
    return pairs, ceiling, cols


def _down(value: float, col: ColumnDomain) -> float:
    step = value_step(col)
    if step and step < 1:  # D decimals: counted in 10^-D, so that 0.3 stays 0.3 (0.3 / 0.1 < 3)
        per = round(1 / step)
        return math.floor(round(value * per, 6)) / per
    return math.floor(value / step) * step if step else float(value)


def passes(pairs: list[Inequality]) -> range:
    """Enough passes over the pairs for a value to travel the longest chain (or cycle) of them."""
    return range(len(pairs) + 2)
