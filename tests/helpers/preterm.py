"""A trial with a gestational age in days and a preterm flag that follows it: the metadata of the
implication rules' tests (tests/schema/test_implications.py, tests/sample/test_rules.py)."""

from __future__ import annotations

import copy

from tests.conftest import TRIAL_META

BELOW = {"if": {"column": "ga", "below": 259}, "then": {"column": "preterm", "is": "yes"}}
AT_LEAST = {"if": {"column": "ga", "at_least": 259}, "then": {"column": "preterm", "is": "no"}}


def preterm_meta() -> dict:
    """The trial's metadata plus ``ga`` (150–310 days) and ``preterm`` (no/yes, nullable), with
    the two rules BELOW and AT_LEAST."""
    m = copy.deepcopy(TRIAL_META)
    cols = m["tables"]["trial"]["columns"]
    cols["ga"] = {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 150, "range_max": 310,
                  "range_is_nullable": False}
    cols["preterm"] = {"sdtype": "categorical", "range_values": ["no", "yes"], "range_is_nullable": True}
    m["synth_inequalities"] = [BELOW, AT_LEAST]
    return m
