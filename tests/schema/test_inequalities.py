"""Inequalities between columns: metadata checks, the fit-time check, the ceilings, and a fitted
model whose sample keeps them (also after a model-file round trip). The rule itself against a
slow row-by-row loop: tests/sample/test_rules.py."""

import copy

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer, SynthError
from synth.privacy.domain import ColumnDomain
from synth.encode.inequalities import ceilings
from synth.schema.inequalities import Inequality, check_data, read_inequalities
from synth.schema.metadata import Metadata
from tests.conftest import FAST, TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, with_follow_up_end, make_visits


def _trial_with_times(n: int = 150, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """make_trial plus an event time and a follow-up time never below it (equal for a third)."""
    rng = np.random.default_rng(seed)
    df = make_trial(n, seed)
    df["follow"] = rng.integers(10, 400, size=n)
    df["event"] = np.where(rng.random(n) < 0.35, df["follow"], (df["follow"] * rng.random(n)).astype(int))
    m = copy.deepcopy(TRIAL_META)
    cols = m["tables"]["trial"]["columns"]
    for c in ("follow", "event"):
        cols[c] = {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 0, "range_max": 400,
                   "range_is_nullable": False}
    m["synth_inequalities"] = [{"low": "event", "high": "follow"}]
    return df, m


@pytest.mark.parametrize("spec, message", [
    ({"low": "event"}, "entries must be"),
    ("event<follow", "must be a list"),
    ({"low": "nope", "high": "follow"}, "low column 'nope' is not one of the columns"),
    ({"low": "event", "high": "sex"}, "high column 'sex' must be a numerical or datetime column"),
    ({"low": "sex", "high": "follow"}, "low column 'sex' must be a numerical or datetime column"),
    ({"low": "visit", "high": "follow"}, "columns 'visit' and 'follow' must have the same sdtype"),
    ({"low": "event", "high": "event"}, "compares column 'event' with itself"),
])
def test_bad_inequalities_in_the_metadata_are_one_line_errors(spec, message):
    _, m = _trial_with_times()
    m["synth_inequalities"] = spec if isinstance(spec, str) else [spec]
    with pytest.raises(SynthError, match=message):
        read_inequalities(Metadata.load(m))


def test_in_visit_data_a_static_high_needs_a_static_low():
    m = copy.deepcopy(SEQ_META)
    m["synth_inequalities"] = [{"low": "lab", "high": "age"}]
    with pytest.raises(SynthError, match="high column 'age' is static, so its low column 'lab' must be static too"):
        read_inequalities(Metadata.load(m))
    m["synth_inequalities"] = [{"low": "day", "high": "age"}]
    with pytest.raises(SynthError, match="not the sequence key or index"):
        read_inequalities(Metadata.load(m))


def test_a_real_row_that_breaks_an_inequality_stops_fit_before_any_release():
    df, m = _trial_with_times()
    df.loc[[3, 7], "event"] = df.loc[[3, 7], "follow"] + 1
    s = Synthesizer(epsilon=1.0, label="arm", **FAST)
    with pytest.raises(SynthError, match=r"column 'event' exceeds 'follow' in some rows"):
        s.fit(df, m)
    check_data(df.drop(index=[3, 7]), [Inequality("event", "follow")], Metadata.load(m), "x")  # the rest is fine


def _dom(name: str, lo: float, hi: float, integer: bool = False) -> ColumnDomain:
    return ColumnDomain(name, "numerical", "numerical", True, "public", lo=lo, hi=hi, integer=integer)


def test_ceilings_carry_along_chains_round_down_for_integers_and_catch_contradictions():
    pairs = [Inequality("a", "b"), Inequality("b", "c")]
    doms = {"a": _dom("a", 0, 9, integer=True), "b": _dom("b", 0, 9), "c": _dom("c", 0, 6.5)}
    assert ceilings(pairs, doms) == {"a": 6, "b": 6.5, "c": 6.5}
    doms["a"] = _dom("a", 7, 9, integer=True)
    with pytest.raises(SynthError, match="column 'a' would need values <= 6, below its range's minimum 7"):
        ceilings(pairs, doms)


def test_a_fitted_model_samples_rows_that_keep_the_inequality_and_its_file_keeps_it(tmp_path):
    df, m = _trial_with_times()
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    kept = s.sample(500, seed=3)
    assert (kept["event"] <= kept["follow"]).all()
    del s.metadata.extra["synth_inequalities"]  # the same generator, rows as drawn
    free = s.sample(500, seed=3)
    assert (free["event"] > free["follow"]).sum() > 20  # so the rule had work to do
    slow = free.assign(follow=np.maximum(free["event"], free["follow"]))  # the rule, by hand
    pd.testing.assert_frame_equal(kept, slow)
    s.metadata.extra["synth_inequalities"] = m["synth_inequalities"]
    again = Synthesizer.load(s.save(tmp_path / "ineq.synth"))
    pd.testing.assert_frame_equal(again.sample(500, seed=3), kept)
    assert again.info()["inequalities"] == ["event <= follow"]
    out = again.write_csv(tmp_path / "ineq.csv", 300, seed=1)
    written = pd.read_csv(out)
    assert (written["event"] <= written["follow"]).all()


def test_visit_data_keep_a_temporal_low_below_a_temporal_high_visit_by_visit():
    df = make_visits(60)
    df["limit"] = (df["lab"] + 1).fillna(10).clip(upper=10)
    m = copy.deepcopy(SEQ_META)
    cols = m["tables"]["visits"]["columns"]
    cols["limit"] = {"sdtype": "numerical", "range_min": 0, "range_max": 10, "range_is_nullable": False}
    m["synth_inequalities"] = [{"low": "lab", "high": "limit"}, {"low": "age", "high": "age2"}]
    df["age2"] = df["age"] + 5
    cols["age2"] = {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 18, "range_max": 95,
                    "range_is_nullable": False}
    m["synth_sequence"]["static_columns"].append("age2")
    got = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m).sample(200, seed=0)
    assert not (got["lab"] > got["limit"]).any() and not (got["age"] > got["age2"]).any()
    assert (got.groupby("pid")[["age", "age2"]].nunique() == 1).all().all()  # static columns stay static


def test_a_follow_up_end_that_the_rule_could_lower_is_refused_before_the_tables(monkeypatch):
    """Visits are ended at the follow-up end before the inequalities run, so lowering it to a
    smaller ceiling afterwards could leave visits after it: fit refuses such ranges, before it
    releases the label and pair tables."""
    def no_release(*args, **kwargs):
        raise AssertionError("tables released before the ranges were checked")

    df, m = with_follow_up_end(make_visits())
    df["closed"] = df["stop"]
    cols = m["tables"]["visits"]["columns"]
    cols["closed"] = {**cols["stop"], "range_max": 480}  # stop's range ends at 500
    m["synth_sequence"]["static_columns"].append("closed")
    m["synth_inequalities"] = [{"low": "stop", "high": "closed"}]
    with pytest.raises(SynthError, match="column 'stop' must not exceed a column whose range ends at 480.*"
                                         "follow_up_end.*range's maximum to at most 480"):
        with monkeypatch.context() as patch:
            patch.setattr("synth.preparation.release_tables", no_release)
            Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    cols["stop"]["range_max"] = 480  # consistent ranges: fitted, and no visit after the end
    got = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m).sample(200, seed=0)
    assert (got["day"] <= got["stop"]).all() and (got["stop"] <= got["closed"]).all()


def test_the_command_line_refuses_a_breaking_csv_and_info_shows_the_inequality(tmp_path):
    import json

    from typer.testing import CliRunner

    from synth.cli import app

    df, m = _trial_with_times()
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(json.dumps(m))
    bad = df.assign(event=df["follow"] + 1)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    df.to_csv(tmp_path / "good.csv", index=False)

    def run(*args):
        return CliRunner().invoke(app, [str(a) for a in args])

    r = run("fit", tmp_path / "bad.csv", "--metadata", meta_file, "-o", tmp_path / "m.synth", "--epochs", "2")
    assert r.exit_code == 2 and "column 'event' exceeds 'follow' in some rows" in r.stderr
    assert not (tmp_path / "m.synth").exists()
    r = run("fit", tmp_path / "good.csv", "--metadata", meta_file, "-o", tmp_path / "m.synth", "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert "kept in every sampled row: event <= follow" in run("info", tmp_path / "m.synth").stdout


def test_dates_keep_their_order_and_format():
    df, m = _trial_with_times()
    rng = np.random.default_rng(1)
    visit = pd.to_datetime(df["visit"])
    df["closed"] = (visit + pd.to_timedelta(rng.integers(0, 300, len(df)), unit="D")).dt.strftime("%Y-%m-%d")
    cols = m["tables"]["trial"]["columns"]
    cols["closed"] = {**cols["visit"]}
    m["synth_inequalities"] = [{"low": "visit", "high": "closed"}]
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    kept = s.sample(400, seed=0)
    assert (pd.to_datetime(kept["visit"]) <= pd.to_datetime(kept["closed"])).all()
    assert kept["closed"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    del s.metadata.extra["synth_inequalities"]
    free = s.sample(400, seed=0)
    late = pd.to_datetime(free["visit"]) > pd.to_datetime(free["closed"])
    assert late.sum() > 10  # so the rule had work to do
    pd.testing.assert_frame_equal(kept, free.assign(closed=free["closed"].where(~late, free["visit"])))
    m["tables"]["trial"]["columns"]["closed"]["datetime_format"] = "%d/%m/%Y"
    with pytest.raises(SynthError, match="the same datetime_format"):
        read_inequalities(Metadata.load(m))
