"""Sampled numbers are written at the metadata's precision: integers whole, ``synth_decimals``
decimals where stated (inside the range, inequalities kept), else 6 significant digits; the
same seed still gives the same bytes."""

from __future__ import annotations

import copy
import csv
import re

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer, SynthError
from synth.sample.precision import DEFAULT_DIGITS, Precision, significant, to_decimals
from synth.privacy.domain import ColumnDomain, Domain
from synth.sample.rules import apply_inequalities
from synth.schema.inequalities import Inequality
from synth.schema.metadata import Metadata
from synth.schema.ranges import read_decimals
from tests.conftest import FAST, TRIAL_META, make_trial


def _digits(text: str) -> tuple[int, int]:
    """(significant digits, decimals) of a number as written in a CSV cell."""
    mantissa = text.lstrip("-").split("e")[0]
    whole, _, frac = mantissa.partition(".")
    return len((whole + frac).lstrip("0").rstrip("0") or "0"), len(frac)


def _cells(path, column: str) -> list[str]:
    with open(path, newline="") as f:
        return [row[column] for row in csv.DictReader(f) if row[column] != ""]


def test_significant_digits_and_decimals():
    x = np.array([3474.828779697418, 0.0001234567891, 9.9999996, 123456789.123, np.nan, 0.0, -1e-30, -0.0000004])
    assert significant(x)[:4].tolist() == [3474.83, 0.000123457, 10.0, 123457000.0]
    assert np.isnan(significant(x)[4]) and significant(x)[5] == 0.0
    assert [repr(float(v)) for v in significant(x)[6:]] == ["-1e-30", "-4e-07"]
    assert to_decimals(np.array([1.25, 0.30000000000000004, -0.04]), 1).tolist() == [1.2, 0.3, 0.0]
    assert repr(float(to_decimals(np.array([-0.04]), 1)[0])) == "0.0"  # never "-0"


def _fit(meta: dict, df: pd.DataFrame | None = None) -> Synthesizer:
    return Synthesizer(epsilon=float("inf"), label="arm", **FAST).fit(make_trial(150) if df is None else df, meta)


def test_default_is_six_significant_digits_and_integers_stay_whole(tmp_path):
    s = _fit(TRIAL_META)
    s.write_csv(tmp_path / "a.csv", 400, seed=3)
    weights = _cells(tmp_path / "a.csv", "weight")
    assert weights and all(_digits(w)[0] <= DEFAULT_DIGITS for w in weights)
    assert any(_digits(w)[0] == DEFAULT_DIGITS for w in weights)  # rounded, not truncated to a grid
    assert all(re.fullmatch(r"\d+", a) for a in _cells(tmp_path / "a.csv", "age"))
    frame = s.sample(400, seed=3)  # the API's frame holds what the CSV says
    assert np.allclose(frame["weight"].dropna().to_numpy(), [float(w) for w in weights])
    s.write_csv(tmp_path / "b.csv", 400, seed=3)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_stated_decimals_are_written_inside_the_range(tmp_path):
    meta = copy.deepcopy(TRIAL_META)
    meta["tables"]["trial"]["columns"]["weight"].update(synth_decimals=1, range_max=149.97)
    s = _fit(meta)
    s.write_csv(tmp_path / "a.csv", 400, seed=1)
    weights = _cells(tmp_path / "a.csv", "weight")
    assert weights and all(_digits(w)[1] <= 1 for w in weights)
    assert max(float(w) for w in weights) <= 149.9
    again = Synthesizer.load(s.save(tmp_path / "m.synth"))  # the key travels in the model's metadata
    again.write_csv(tmp_path / "b.csv", 400, seed=1)
    assert all(_digits(w)[1] <= 1 for w in _cells(tmp_path / "b.csv", "weight"))


def _dom(name: str, lo: float, hi: float) -> ColumnDomain:
    return ColumnDomain(name, "numerical", "numerical", True, "public", lo=lo, hi=hi)


def test_a_raised_high_lands_on_its_own_decimals():
    meta = Metadata(columns={"a": {"sdtype": "numerical", "range_min": 0, "range_max": 10, "synth_decimals": 2},
                             "b": {"sdtype": "numerical", "range_min": 0, "range_max": 10, "synth_decimals": 1}})
    doms = {"a": _dom("a", 0, 10), "b": _dom("b", 0, 10)}
    written = Precision(meta, Domain(list(doms.values()), ["a", "b"]))
    pairs = [Inequality("a", "b")]
    ceiling, cols = written.grid(pairs, doms)
    frame = pd.DataFrame({"a": [1.2412, 1.2612, 0.3, 5.0], "b": [1.2, 1.2, 0.3, np.nan]})
    out = apply_inequalities(written.round(frame), pairs, ceiling, cols)
    assert out["a"].tolist()[:3] == [1.24, 1.26, 0.3]
    assert out["b"].tolist()[:3] == [1.3, 1.3, 0.3] and np.isnan(out["b"].iloc[3])
    assert [repr(float(v)) for v in out["b"][:3]] == ["1.3", "1.3", "0.3"]


@pytest.mark.parametrize("spec, message", [
    ({"sdtype": "numerical", "synth_decimals": True}, "must be a whole number from 0 to 12"),
    ({"sdtype": "numerical", "synth_decimals": -1}, "must be a whole number from 0 to 12"),
    ({"sdtype": "numerical", "synth_decimals": 1.5}, "must be a whole number from 0 to 12"),
    ({"sdtype": "categorical", "synth_decimals": 1}, "is for numerical columns only"),
    ({"sdtype": "numerical", "computer_representation": "Int64", "synth_decimals": 2}, "is an integer"),
    ({"sdtype": "numerical", "range_min": 0.01, "range_max": 0.04, "synth_decimals": 1}, "no value with 1 decimals"),
])
def test_bad_decimals_are_one_line_errors(spec, message):
    with pytest.raises(SynthError, match=message):
        read_decimals(Metadata(columns={"x": spec}))
    assert read_decimals(Metadata(columns={"x": {"sdtype": "numerical", "synth_decimals": 0}})) == {"x": 0}


def test_fit_stops_on_bad_decimals_and_export_sdv_drops_the_key():
    meta = copy.deepcopy(TRIAL_META)
    meta["tables"]["trial"]["columns"]["weight"]["synth_decimals"] = "one"
    with pytest.raises(SynthError, match="column 'weight' synth_decimals must be a whole number"):
        _fit(meta)
    sdv = Metadata.load(meta).to_dict(strip_domain=True)
    assert "synth_decimals" not in sdv["tables"]["trial"]["columns"]["weight"]
