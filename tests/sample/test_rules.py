"""The rules' sampling halves (synth.sample.rules) against slow row-by-row loops: inequalities
(lower to the ceilings, raise each high to its low) and implications (a threshold sets a
category), with the column types they keep."""


import numpy as np
import pandas as pd
import pytest

from synth.encode.inequalities import ceilings
from synth.privacy.domain import ColumnDomain
from synth.sample.rules import apply_implications, apply_inequalities
from synth.schema.implications import read_implications
from synth.schema.inequalities import Inequality
from synth.schema.metadata import Metadata
from tests.helpers.preterm import preterm_meta



def _dom(name: str, lo: float, hi: float, integer: bool = False) -> ColumnDomain:
    return ColumnDomain(name, "numerical", "numerical", True, "public", lo=lo, hi=hi, integer=integer)


def _slow(frame: pd.DataFrame, pairs: list[Inequality], ceiling: dict, doms: dict) -> pd.DataFrame:
    """Row by row: lower to the ceilings, then raise highs to their lows until nothing changes."""
    out = frame.copy()
    for i in range(len(out)):
        row = {c: out.at[i, c] for c in ceiling}
        for c, top in ceiling.items():
            if pd.notna(row[c]) and row[c] > top:
                row[c] = top
        changed = True
        while changed:
            changed = False
            for p in pairs:
                lo, hi = row[p.low], row[p.high]
                if pd.notna(lo) and pd.notna(hi) and lo > hi:
                    row[p.high] = np.ceil(lo) if doms[p.high].integer else lo
                    changed = True
        for c, v in row.items():
            out.at[i, c] = v
    return out


def test_the_rule_equals_a_slow_loop_keeps_every_pair_and_leaves_other_columns_alone():
    rng = np.random.default_rng(5)
    n = 400
    frame = pd.DataFrame({"a": rng.uniform(0, 11, n), "b": pd.array(rng.integers(0, 10, n), dtype="Int64"),
                          "c": rng.uniform(0, 10, n), "d": rng.uniform(0, 10, n), "other": rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.2, "a"] = np.nan
    frame.loc[rng.random(n) < 0.2, "b"] = pd.NA
    # a chain listed against its order (a <= b <= c), and a cycle (c <= d, d <= c)
    pairs = [Inequality("b", "c"), Inequality("a", "b"), Inequality("c", "d"), Inequality("d", "c")]
    doms = {"a": _dom("a", 0, 11), "b": _dom("b", 0, 10, integer=True), "c": _dom("c", 0, 9.5), "d": _dom("d", 0, 10)}
    ceiling = ceilings(pairs, doms)
    assert ceiling == {"a": 9, "b": 9, "c": 9.5, "d": 9.5}
    fast = apply_inequalities(frame, pairs, ceiling, doms)
    pd.testing.assert_frame_equal(fast, _slow(frame, pairs, ceiling, doms))
    for p in pairs:
        assert not (fast[p.low] > fast[p.high]).fillna(False).any()
    assert fast["b"].dtype == "Int64" and fast["a"].isna().equals(frame["a"].isna())
    pd.testing.assert_series_equal(fast["other"], frame["other"])
    assert (fast["a"].dropna() <= 9).all() and (fast["c"] <= 9.5).all()
    assert (fast["b"] != frame["b"]).sum() > 50  # the rule had work to do


def test_the_implications_equal_a_slow_loop():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"ga": rng.integers(150, 310, 400).astype(float),
                          "preterm": rng.choice(["no", "yes"], 400).astype(object), "other": rng.normal(size=400)})
    frame.loc[::7, "ga"] = np.nan
    frame.loc[::11, "preterm"] = None
    m = preterm_meta()
    fast = apply_implications(frame, read_implications(Metadata.load(m)))
    slow = frame.copy()
    for i, row in frame.iterrows():
        if pd.isna(row["ga"]) or pd.isna(row["preterm"]):  # pandas 3 reads the None back as NaN
            continue
        slow.at[i, "preterm"] = "yes" if row["ga"] < 259 else "no"
    pd.testing.assert_frame_equal(fast, slow)
    assert (fast["preterm"] != frame["preterm"]).sum() > 50  # the rule had work to do


def test_a_coded_category_keeps_its_dtype_in_every_chunk():
    """A category coded 0/1 stays an integer column whether or not a chunk has a row to set: the
    streamed CSV keeps the first chunk's types."""
    m = preterm_meta()
    cols = m["tables"]["trial"]["columns"]
    cols["preterm"] = {"sdtype": "categorical", "range_values": [0, 1], "range_is_nullable": False}
    m["synth_inequalities"] = [{"if": {"column": "ga", "below": 259}, "then": {"column": "preterm", "is": 1}}]
    rules = read_implications(Metadata.load(m))
    none_set = apply_implications(pd.DataFrame({"ga": [300.0, 280.0], "preterm": np.array([0, 1])}), rules)
    some_set = apply_implications(pd.DataFrame({"ga": [200.0, 280.0], "preterm": np.array([0, 0])}), rules)
    assert none_set["preterm"].dtype == some_set["preterm"].dtype == np.int64
    assert some_set["preterm"].tolist() == [1, 0]


@pytest.mark.parametrize("dtype", [object, "string"])
def test_the_rule_keeps_a_text_column_s_dtype(dtype):
    # pandas 3 reads text as its str dtype: setting a category there must not turn the column to object
    frame = pd.DataFrame({"ga": [200.0, 280.0, np.nan, 250.0], "preterm": pd.Series(["no", "yes", "no", None],
                                                                                  dtype=dtype)})
    m = preterm_meta()
    fast = apply_implications(frame, read_implications(Metadata.load(m)))
    assert fast["preterm"].dtype == frame["preterm"].dtype
    assert fast["preterm"].tolist()[:3] == ["yes", "no", "no"] and pd.isna(fast["preterm"].iloc[3])


def test_the_rule_sets_a_value_outside_a_category_column_s_categories():
    # a pandas category column without the rule's value is widened to object, not refused
    frame = pd.DataFrame({"ga": [200.0, 280.0], "preterm": pd.Categorical(["no", "no"])})
    m = preterm_meta()
    fast = apply_implications(frame, read_implications(Metadata.load(m)))
    assert fast["preterm"].tolist() == ["yes", "no"]
