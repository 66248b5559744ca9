"""The verdict: checks against written thresholds, collapsed strong pairs named with both values,
declared inequalities' violation rates, and a report whose numbers are rounded for people."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest

from synth.eval import evaluate
from synth.eval.report import EvaluationReport
from synth.eval.report_parts import human
from synth.eval.verdict import THRESHOLDS, collapsed_pairs, inequality_rates
from synth.schema.metadata import Metadata
from tests.conftest import TRIAL_META
from tests.eval.test_evaluate import correlated_trial


@pytest.fixture(scope="module")
def broken():
    """Synthetic data whose weight no longer follows age (a strong real pair, r ≈ 0.98)."""
    real, hold = correlated_trial(400, 0), correlated_trial(150, 1)
    syn = real.copy()
    syn["weight"] = np.random.default_rng(3).permutation(syn["weight"].to_numpy())
    return evaluate(real, syn, TRIAL_META, target="arm", holdout=hold)


def test_verdict_is_in_the_json_with_its_thresholds(broken, tmp_path):
    doc = json.loads(broken.to_json(tmp_path / "r.json").read_text())
    v = doc["verdict"]
    assert v["thresholds"] == json.loads(json.dumps(THRESHOLDS))
    checks = {c["check"]: c for c in v["checks"]}
    assert list(checks)[:4] == ["column_shapes", "column_pair_trends", "detection_auroc", "collapsed_pairs"]
    assert {"tstr_trtr_ratio", "exact_copies_over_holdout", "mia_auroc"} <= set(checks)
    assert checks["column_shapes"]["status"] == "good" and checks["column_shapes"]["threshold"] == \
        "good ≥ 0.85, fair ≥ 0.75"
    assert all(c["status"] in ("good", "fair", "poor", "not measured") and c["says"] for c in v["checks"])
    assert v["summary"].startswith(f"{sum(c['status'] == 'good' for c in v['checks'])} of {len(v['checks'])} "
                                   "checks held") and "Strong real correlations" in v["summary"]


def test_a_collapsed_strong_pair_is_named_with_both_values(broken):
    v = broken.results["verdict"]
    (pair,) = v["collapsed_pairs"]
    assert pair["columns"] == ["age", "weight"] and pair["real"] > 0.9 and abs(pair["synthetic"]) < 0.2
    check = next(c for c in v["checks"] if c["check"] == "collapsed_pairs")
    assert check["status"] == "poor" and (f"age ~ weight ({pair['method']} r: real {pair['real']:.2f}, "
                                         f"synthetic {pair['synthetic']:.2f})") in check["says"]


def test_a_kept_or_weak_pair_is_not_collapsed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    meta = Metadata(columns={c: {"sdtype": "numerical"} for c in "abc"})
    real = pd.DataFrame({"a": x, "b": x + rng.normal(0, 0.3, 500), "c": rng.normal(size=500)})
    kept = real.assign(b=real["b"] + rng.normal(0, 0.2, 500))  # still strong: moved by less than 0.3
    assert collapsed_pairs(real, kept, meta) == {"strong_real_pairs": 1, "collapsed": []}
    weak_moved = real.assign(c=x * 0.4 + rng.normal(0, 1, 500))  # a weak real pair that rose: not a collapse
    assert collapsed_pairs(real, weak_moved, meta)["collapsed"] == []
    flipped = real.assign(b=-real["b"])
    assert collapsed_pairs(real, flipped, meta)["collapsed"][0]["columns"] == ["a", "b"]


def test_declared_inequalities_violation_rates():
    spec = copy.deepcopy(TRIAL_META)
    spec["tables"]["trial"]["columns"].update(
        event={"sdtype": "numerical", "range_min": 0, "range_max": 400},
        follow={"sdtype": "numerical", "range_min": 0, "range_max": 400})
    spec["synth_inequalities"] = [{"low": "event", "high": "follow"}]
    real = correlated_trial(200, 0).assign(event=np.arange(200) % 100, follow=100)
    syn = real.copy()
    syn.loc[:19, "event"] = 150  # 20 of 200 rows break it
    syn.loc[20:29, "follow"] = np.nan  # rows with a missing value are not counted
    assert inequality_rates(real, syn, Metadata.load(spec)) == [
        {"rule": "event <= follow", "low": "event", "high": "follow",
         "synthetic_rate": pytest.approx(20 / 190, rel=1e-2), "real_rate": 0.0}]
    v = evaluate(real, syn, spec, holdout=correlated_trial(60, 1).assign(event=1, follow=2)).results["verdict"]
    check = next(c for c in v["checks"] if c["check"] == "inequality_violations")
    assert check["status"] == "poor" and "event <= follow broken in 10.5% of rows (real 0.0%)" in check["says"]


def test_numbers_in_the_report_are_for_people(broken):
    ledger = {"accountant": "opacus rdp", "n_patients": 2139, "n_patients_source": "dp",
              "mechanisms": [{"name": "dp_sgd:discriminator", "noise_multiplier": 1.2345678901234567,
                              "sample_rate": 0.014959349593495935, "steps": 300, "epsilon_alone": 0.8765432109876543,
                              "description": "Opacus DP-SGD"}]}
    report = EvaluationReport({**broken.results, "formal_privacy": {
        "guarantee": "(1, 1e-05)-DP", "epsilon": 0.9999999999999871, "delta": 1e-05, "ledger": ledger}},
        broken.figures)
    page = report.to_html()
    text = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # what a reader sees (plotly.js aside)
    decimals = re.findall(r"\d*\.\d+", re.sub(r"<[^>]+>", " ", text))
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 3 for d in decimals), decimals
    assert "<td>dp_sgd:discriminator</td><td>1.23</td><td>0.015</td><td>300</td><td>0.877</td>" in page
    assert page.index('id="verdict"') < page.index('id="headline"')
    fig = broken.figures["correlations"]
    assert fig.layout.xaxis.hoverformat == ".3~g" and fig.data[0].zhoverformat == ".3~g"
    assert broken.results["verdict"]["summary"] in broken._repr_html_()
    assert list(broken.verdict().columns) == ["check", "value", "verdict", "threshold", "says"]


@pytest.mark.parametrize("value, shown", [(0.8734567, "0.873"), (1.0, "1"), (3474.828779697418, "3470"),
                                          (1e-05, "1e-05"), (0.015, "0.015"), (float("nan"), "—"), (300, "300")])
def test_human_numbers(value, shown):
    assert human(value) == shown


def test_synth_evaluate_prints_the_verdict(tmp_path, meta_file):
    from typer.testing import CliRunner

    from synth.cli import app

    real, hold = correlated_trial(300, 0), correlated_trial(100, 1)
    for name, df in (("real", real), ("syn", real.assign(weight=real["weight"].to_numpy()[::-1])), ("hold", hold)):
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    r = CliRunner().invoke(app, ["evaluate", "--real", str(tmp_path / "real.csv"), "--synthetic",
                                 str(tmp_path / "syn.csv"), "--holdout", str(tmp_path / "hold.csv"), "-m",
                                 str(meta_file), "-o", str(tmp_path / "r.html")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "verdict (thresholds: docs/evaluation.md)" in r.stdout and "did not hold: " in r.stdout
    assert "age ~ weight (" in r.stdout


def test_implausible_tails_are_named_against_the_real_percentiles():
    from synth.eval.checks import tail_shares

    rng = np.random.default_rng(0)
    meta = Metadata(columns={"bmi": {"sdtype": "numerical"}, "age": {"sdtype": "numerical"}})
    real = pd.DataFrame({"bmi": rng.normal(27, 5, 2000), "age": rng.normal(30, 5, 2000)})
    syn = pd.DataFrame({"bmi": np.r_[rng.normal(27, 5, 900), np.full(100, 60.0)], "age": rng.normal(30, 5, 1000)})
    tails = {t["column"]: t for t in tail_shares(real, syn, meta)}
    lo, hi = np.quantile(real["bmi"], [0.005, 0.995])
    slow = np.mean((syn["bmi"] < lo) | (syn["bmi"] > hi))  # the definition, by hand
    assert tails["bmi"]["synthetic_share"] == pytest.approx(slow) and slow > 0.1
    assert tails["bmi"]["real_share"] == pytest.approx(0.01, abs=0.002) and tails["age"]["synthetic_share"] < 0.03
    v = evaluate(real.assign(arm=rng.choice(["a", "b"], 2000)), syn.assign(arm=rng.choice(["a", "b"], 1000)),
                 {"columns": {"bmi": {"sdtype": "numerical"}, "age": {"sdtype": "numerical"},
                              "arm": {"sdtype": "categorical"}}}).results["verdict"]
    check = next(c for c in v["checks"] if c["check"] == "implausible_tails")
    assert check["status"] == "poor" and "bmi 1" in check["says"] and "age" not in check["says"].split(":", 1)[1]


def test_the_declared_analysis_names_an_invented_effect_a_flipped_sign_and_a_failed_model():
    from synth.eval.checks import analysis_findings

    def effect(label, syn, **agree):
        return {"label": label, "level": "T", "reference": "C", "scale": "log odds ratio",
                "real": {"status": "ok", "estimate": 0.1, "ci_low": -0.3, "ci_high": 0.5, "p_value": 0.6},
                "synthetic": syn, **agree}

    ok = {"status": "ok", "estimate": 0.9, "ci_low": 0.5, "ci_high": 1.3, "p_value": 0.001}
    status, found = analysis_findings({"effects": [effect("preterm", ok, sign_agrees=True, significance_agrees=False,
                                                          ci_overlap=0.1)]}, 0.5)
    assert status == "poor" and found == ["preterm (T vs C): an effect the real data do not show "
                                          "(0.9 [0.5, 1.3] against 0.1 [-0.3, 0.5] real, log odds ratio)"]
    flipped = {**ok, "estimate": -0.2, "ci_low": -0.6, "ci_high": 0.2, "p_value": 0.4}
    assert "sign flips" in analysis_findings({"effects": [effect("bw", flipped, sign_agrees=False)]}, 0.5)[1][0]
    failed = {"status": "failed", "message": "the model did not converge on the synthetic data"}
    assert analysis_findings({"effects": [effect("bw", failed)]}, 0.5) == (
        "poor", ["bw (T vs C): the model did not converge on the synthetic data"])
    kept = {**ok, "estimate": 0.12, "ci_low": -0.2, "ci_high": 0.45, "p_value": 0.5}
    assert analysis_findings({"effects": [effect("bw", kept, sign_agrees=True, significance_agrees=True,
                                                 ci_overlap=0.8)]}, 0.5) == ("good", [])
    assert analysis_findings(None, 0.5) == (None, [])
