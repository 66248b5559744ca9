"""Implications: a numerical column's threshold fixes a categorical column, in every synthetic row.

A trial's definitions often tie a category to a number: a pregnancy ended before 37 weeks (259
days) is preterm, a birthweight under 2,500 g is low. The metadata states them beside the
inequalities, under the same top-level key::

    "synth_inequalities": [
        {"if": {"column": "GA.at.outcome", "below": 259}, "then": {"column": "Preg.ended...37.wk", "is": "Yes"}},
        {"if": {"column": "GA.at.outcome", "at_least": 259}, "then": {"column": "Preg.ended...37.wk", "is": "No"}}]

``if`` names a numerical column and one comparison with a number (``below`` <, ``at_most`` ≤,
``above`` >, ``at_least`` ≥); ``then`` names a categorical column and one of its public
``range_values`` (or a boolean column and true/false). Sampling post-processes every synthetic
row (:func:`synth.sample.rules.apply_implications`): where the condition holds and the ``then`` column is present,
it is set to the value. A row with either value missing is left as it is (a patient lost to
follow-up has an age at last contact but no outcome).

Privacy assumption: the rules are public metadata, from the protocol or the data dictionary.
:func:`check_implications` reads real rows only to stop ``fit`` with an error naming the rule,
never a row or how many (nothing is stored or released); everything else is post-processing of
generated values and costs no ε. A rule chosen because the data happen to keep it (found by
scanning the real table) makes that fact about the patients a release outside the ledger.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import FIX_IN_METADATA, SynthError
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import is_boolean, is_listed, is_number
from synth.schema.validate import category_key, coerce_frame

__all__ = ["Implication", "KEY", "read_implications", "check_implications", "implication_rates"]

KEY = "synth_inequalities"
OPERATORS = {"below": ("<", operator.lt), "at_most": ("<=", operator.le), "above": (">", operator.gt),
             "at_least": (">=", operator.ge)}
_FORM = ('{"if": {"column": NUMERICAL, "below" | "at_most" | "above" | "at_least": NUMBER}, '
         '"then": {"column": CATEGORICAL, "is": VALUE}}')


@dataclass(frozen=True)
class Implication:
    """Where ``column`` ``op`` ``threshold`` holds, ``then_column`` is ``value`` (as the metadata writes it)."""

    column: str
    op: str
    threshold: float
    then_column: str
    value: Any

    @property
    def text(self) -> str:
        """The rule in plain words: ``GA < 259 ⇒ preterm = Yes``."""
        return f"{self.column} {OPERATORS[self.op][0]} {self.threshold:g} ⇒ {self.then_column} = {self.value}"

    def holds(self, values: np.ndarray) -> np.ndarray:
        """Where the condition holds (False where the number is missing)."""
        with np.errstate(invalid="ignore"):
            return OPERATORS[self.op][1](values, self.threshold) & ~np.isnan(values)


def read_implications(meta: Metadata) -> list[Implication]:
    """The metadata's implications (the ``synth_inequalities`` entries with ``if``), checked: one
    line naming the entry, key or column at fault."""
    spec = meta.extra.get(KEY, [])
    if not isinstance(spec, list):
        raise SynthError(f'metadata: {KEY} must be a list of {{"low": COLUMN, "high": COLUMN}} or {_FORM} objects')
    rules = [_rule(meta, item) for item in spec if isinstance(item, dict) and "if" in item]
    for i, a in enumerate(rules):
        for b in rules[i + 1:]:
            if (a.column, a.then_column) == (b.column, b.then_column) and _overlap(a, b) \
                    and category_key(a.value) != category_key(b.value):
                raise SynthError(f"metadata: {KEY} rules '{a.text}' and '{b.text}' contradict each other where "
                                 "both conditions hold")
    return rules


def _rule(meta: Metadata, item: dict) -> Implication:
    if set(item) != {"if", "then"} or not isinstance(item["if"], dict) or not isinstance(item["then"], dict):
        raise SynthError(f"metadata: {KEY} entries with 'if' must be {_FORM}")
    cond, then = item["if"], item["then"]
    ops = [k for k in cond if k in OPERATORS]
    if set(cond) != {"column", *ops} or len(ops) != 1:
        raise SynthError(f"metadata: {KEY} 'if' must name a column and exactly one of below, at_most, above, "
                         f"at_least, got {sorted(cond)}")
    threshold = cond[ops[0]]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise SynthError(f"metadata: {KEY} 'if' {ops[0]} must be a finite number, got {threshold!r}")
    column, target = str(cond["column"]), then.get("column")
    if column not in meta.columns:
        raise SynthError(f"metadata: {KEY} 'if' column '{column}' is not one of the columns")
    if not is_number(meta.sdtype(column)) or column in (meta.sequence_key, meta.sequence_index):
        raise SynthError(f"metadata: {KEY} 'if' column '{column}' must be numerical (not the sequence key or "
                         f"index), got {meta.sdtype(column)}")
    if set(then) != {"column", "is"}:
        raise SynthError(f"metadata: {KEY} 'then' must be {{\"column\": CATEGORICAL, \"is\": VALUE}}, got {sorted(then)}")
    target = str(target)
    if target not in meta.columns:
        raise SynthError(f"metadata: {KEY} 'then' column '{target}' is not one of the columns")
    value = _value(meta, target, then["is"])
    static = set(meta.extra.get("synth_sequence", {}).get("static_columns", [])) if meta.sequence_key else None
    if static is not None and target in static and column not in static:
        raise SynthError(f"metadata: {KEY} 'then' column '{target}' is static, so its 'if' column '{column}' "
                         "must be static too")
    return Implication(column, ops[0], float(threshold), target, value)


def _value(meta: Metadata, column: str, value: Any) -> Any:
    """``value`` as the ``then`` column's public domain writes it."""
    spec = meta.columns[column]
    if is_boolean(spec["sdtype"]):
        if not isinstance(value, bool):
            raise SynthError(f"metadata: {KEY} 'then' column '{column}' is boolean: 'is' must be true or false")
        return value
    if not is_listed(spec["sdtype"]):
        raise SynthError(f"metadata: {KEY} 'then' column '{column}' must be categorical or boolean, "
                         f"got {spec['sdtype']}")
    values = spec.get("range_values")
    if values is None or spec.get("range_public") is False:
        raise SynthError(f"metadata: {KEY} 'then' column '{column}' needs public range_values (from the protocol)")
    match = [v for v in values if category_key(v) == category_key(value)]
    if not match:
        raise SynthError(f"metadata: {KEY} 'then' value {value!r} is not one of column '{column}''s range_values")
    return match[0]


def _overlap(a: Implication, b: Implication) -> bool:
    """Whether some number meets both conditions (by the bounds alone)."""
    lo = [(r.threshold, r.op == "above") for r in (a, b) if r.op in ("above", "at_least")]
    hi = [(r.threshold, r.op == "below") for r in (a, b) if r.op in ("below", "at_most")]
    if not lo or not hi:
        return True
    (low, open_low), (high, open_high) = max(lo), min(hi)
    return low < high or (low == high and not open_low and not open_high)


def _frame(df: pd.DataFrame, rule: Implication, meta: Metadata) -> tuple[np.ndarray, pd.Series]:
    """The ``if`` column as numbers and the ``then`` column as category keys."""
    spec = Metadata(columns={c: meta.columns[c] for c in (rule.column, rule.then_column)})
    v = coerce_frame(df.rename(columns=str)[[rule.column, rule.then_column]], spec, "the data")
    return v[rule.column].to_numpy(dtype=float), v[rule.then_column]


def _broken(df: pd.DataFrame, rule: Implication, meta: Metadata) -> tuple[np.ndarray, np.ndarray]:
    """Rows where the rule is broken, and rows where both columns are present."""
    number, category = _frame(df, rule, meta)
    present = ~np.isnan(number) & category.notna().to_numpy()
    bad = rule.holds(number) & present & (category.to_numpy() != category_key(rule.value))
    return bad, present


def check_implications(df: pd.DataFrame, rules: list[Implication], meta: Metadata, source: str) -> None:
    """Stop ``fit`` if a real row breaks a stated rule (the metadata would not be a fact).

    Privacy assumption: the error names the rule, never a row or how many; nothing is released.
    """
    for rule in rules:
        if _broken(df, rule, meta)[0].any():
            raise SynthError(f"{source}: some rows break the metadata's {KEY} rule '{rule.text}'; "
                             f"{FIX_IN_METADATA}")


def implication_rates(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Metadata) -> list[dict]:
    """Each rule's violation rate (among the rows with both columns present) in the synthetic
    data, and in the real data for reference; unrounded."""
    out = []
    for rule in read_implications(meta):
        rates = []
        for frame in (synthetic, real):
            bad, present = _broken(frame, rule, meta)
            rates.append(float(bad[present].mean()) if present.any() else math.nan)
        out.append({"rule": rule.text, "synthetic_rate": rates[0], "real_rate": rates[1]})
    return out
