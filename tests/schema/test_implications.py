"""Implications (a numerical threshold fixes a category): metadata errors in one line, the
fit-time check, a fitted model whose sample keeps them, and their violation rates in the
report's verdict. The rule itself against a row-by-row loop: tests/sample/test_rules.py."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from synth.schema.implications import read_implications
from synth.schema.inequalities import read_inequalities
from synth.schema.metadata import Metadata
from tests.conftest import FAST, make_trial
from tests.helpers.preterm import AT_LEAST, BELOW, preterm_meta



def _trial(n: int = 150, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """make_trial plus a gestational age in days and a preterm flag that follows it (some missing)."""
    rng = np.random.default_rng(seed)
    df = make_trial(n, seed)
    df["ga"] = rng.integers(180, 300, size=n)
    df["preterm"] = np.where(df["ga"] < 259, "yes", "no")
    df.loc[df.index[::10], "preterm"] = None  # lost to follow-up: no outcome, still an age
    return df, preterm_meta()


@pytest.mark.parametrize("rule, message", [
    ({"if": {"column": "ga", "below": 259}}, "entries with 'if' must be"),
    ({"if": {"column": "ga"}, "then": {"column": "preterm", "is": "yes"}}, "exactly one of below"),
    ({"if": {"column": "ga", "below": 1, "above": 0}, "then": {"column": "preterm", "is": "yes"}}, "exactly one"),
    ({"if": {"column": "ga", "below": "259"}, "then": {"column": "preterm", "is": "yes"}}, "must be a finite number"),
    ({"if": {"column": "nope", "below": 1}, "then": {"column": "preterm", "is": "yes"}}, "'if' column 'nope' is not"),
    ({"if": {"column": "sex", "below": 1}, "then": {"column": "preterm", "is": "yes"}}, "'if' column 'sex' must be "
                                                                                       "numerical"),
    ({"if": {"column": "ga", "below": 1}, "then": {"column": "preterm", "equals": "yes"}}, "'then' must be"),
    ({"if": {"column": "ga", "below": 1}, "then": {"column": "age", "is": 3}}, "must be categorical or boolean"),
    ({"if": {"column": "ga", "below": 1}, "then": {"column": "preterm", "is": "maybe"}}, "not one of column "
                                                                                        "'preterm''s range_values"),
    ({"if": {"column": "ga", "below": 1}, "then": {"column": "smoker", "is": "yes"}}, "boolean: 'is' must be true"),
])
def test_bad_implications_are_one_line_errors(rule, message):
    _, m = _trial()
    m["synth_inequalities"] = [rule]
    with pytest.raises(SynthError, match=message) as err:
        read_inequalities(Metadata.load(m))  # every reader of the key checks both kinds
    assert "\n" not in str(err.value)


def test_contradicting_rules_and_private_categories_are_refused():
    _, m = _trial()
    m["synth_inequalities"] = [BELOW, {"if": {"column": "ga", "at_most": 200}, "then": {"column": "preterm",
                                                                                       "is": "no"}}]
    with pytest.raises(SynthError, match="contradict each other"):
        read_implications(Metadata.load(m))
    m["synth_inequalities"] = [BELOW, AT_LEAST, {"if": {"column": "ga", "above": 300},
                                                 "then": {"column": "preterm", "is": "no"}}]
    assert len(read_implications(Metadata.load(m))) == 3  # same value where they overlap: fine
    m["tables"]["trial"]["columns"]["preterm"]["range_public"] = False
    with pytest.raises(SynthError, match="needs public range_values"):
        read_implications(Metadata.load(m))


def test_a_real_row_that_breaks_a_rule_stops_fit_in_one_line(tmp_path):
    df, m = _trial()
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(m))
    df.assign(preterm=np.where(df["preterm"].isna(), None, "no")).to_csv(tmp_path / "bad.csv", index=False)
    r = CliRunner().invoke(app, ["fit", str(tmp_path / "bad.csv"), "-m", str(meta), "-o", str(tmp_path / "m.synth")])
    assert r.exit_code == 2 and "break the metadata's synth_inequalities rule 'ga < 259 ⇒ preterm = yes'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.synth").exists()
    m["synth_inequalities"] = [{"if": {"column": "ga", "under": 259}, "then": {"column": "preterm", "is": "yes"}}]
    meta.write_text(json.dumps(m))
    df.to_csv(tmp_path / "good.csv", index=False)
    r = CliRunner().invoke(app, ["fit", str(tmp_path / "good.csv"), "-m", str(meta), "-o", str(tmp_path / "m.synth")])
    assert r.exit_code == 2 and "exactly one of below" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_fitted_model_samples_rows_that_keep_the_rules_and_info_lists_them(tmp_path):
    df, m = _trial()
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    kept = s.sample(500, seed=3)
    both = kept["preterm"].notna()
    assert ((kept["ga"] < 259) == (kept["preterm"] == "yes"))[both].all()
    del s.metadata.extra["synth_inequalities"]  # the same generator, rows as drawn
    free = s.sample(500, seed=3)
    assert (free["preterm"] != kept["preterm"])[both].sum() > 20  # so the rules had work to do
    pd.testing.assert_frame_equal(kept.drop(columns="preterm"), free.drop(columns="preterm"))
    s.metadata.extra["synth_inequalities"] = m["synth_inequalities"]
    again = Synthesizer.load(s.save(tmp_path / "rules.synth"))
    pd.testing.assert_frame_equal(again.sample(500, seed=3), kept)
    assert again.info()["inequalities"] == ["ga < 259 ⇒ preterm = yes", "ga >= 259 ⇒ preterm = no"]


def test_the_verdict_names_each_rule_with_its_violation_rate():
    from synth.eval import evaluate

    df, m = _trial(300)
    syn = df.copy()
    flip = syn.index[(syn["ga"] < 259) & syn["preterm"].notna()][:30]
    syn.loc[flip, "preterm"] = "no"  # 30 rows break the first rule
    present = syn["preterm"].notna().sum()
    v = evaluate(df, syn, m, holdout=_trial(80, 1)[0]).results["verdict"]
    rates = {r["rule"]: r for r in v["inequalities"]}
    assert rates["ga < 259 ⇒ preterm = yes"]["synthetic_rate"] == pytest.approx(30 / present, rel=1e-2)
    assert rates["ga < 259 ⇒ preterm = yes"]["real_rate"] == 0.0
    assert rates["ga >= 259 ⇒ preterm = no"]["synthetic_rate"] == 0.0
    check = next(c for c in v["checks"] if c["check"] == "inequality_violations")
    assert check["status"] == "poor" and f"ga < 259 ⇒ preterm = yes broken in {30 / present:.1%} of rows" \
        in check["says"]


def _fit_cli(tmp_path, *options: str):
    df, m = _trial()
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(m))
    df.to_csv(tmp_path / "good.csv", index=False)
    r = CliRunner().invoke(app, ["fit", str(tmp_path / "good.csv"), "-m", str(meta), "-o", str(tmp_path / "m.synth"),
                                 "--epochs", "2", *options])
    assert r.exit_code == 0, r.output
    return r


def test_fit_prints_a_post_fit_check_on_the_console_and_stores_none_of_it(tmp_path):
    r = _fit_cli(tmp_path, "--check")
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("post-fit check")]
    assert "strongly related pair" in line and "implausible tails" in line and "declared rule" not in line
    assert b"post-fit" not in (tmp_path / "m.synth").read_bytes()


def test_fit_prints_nothing_computed_from_the_data_after_the_fit_unless_asked(tmp_path):
    r = _fit_cli(tmp_path)
    assert "post-fit" not in r.stderr and "strongly related" not in r.stderr
