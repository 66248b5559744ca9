"""Analysis fidelity: the arm's effects on real and synthetic data, the agreement figures, failed fits."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest

from synth import Metadata, SynthError
from synth.eval import effects as effects_module
from synth.eval.analysis import analysis_fidelity, ci_overlap, declaration
from synth.schema.analysis import AnalysisDeclaration

META = {"columns": {
    "pid": {"sdtype": "id"},
    "arm": {"sdtype": "categorical", "range_values": ["placebo", "drug"], "range_is_nullable": False},
    "age": {"sdtype": "numerical", "range_min": 18, "range_max": 90, "range_is_nullable": False},
    "sex": {"sdtype": "categorical", "range_values": ["f", "m", "x"], "range_is_nullable": True},
    "resp": {"sdtype": "boolean", "range_is_nullable": False},
    "score": {"sdtype": "numerical", "range_min": 0, "range_max": 300, "range_is_nullable": True},
    "futime": {"sdtype": "numerical", "range_min": 0, "range_max": 10000, "range_is_nullable": False},
    "status": {"sdtype": "categorical", "range_values": [0, 1], "range_is_nullable": False}},
    "synth_analysis": {"arm": "arm", "outcomes": ["resp", "score"], "time_to_event": [{"time": "futime", "event": "status"}]}}


def trial(n: int = 600, effect: float = 1.0, seed: int = 0, confounded: bool = False) -> pd.DataFrame:
    """A two-arm trial: drug raises the response odds by e^(1.5·effect), the score by 8·effect and
    lowers the hazard by e^(-0.8·effect). ``confounded``: the older get the drug, and age (not the
    arm) drives the score."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, n)
    drug = (age + rng.normal(0, 5, n) > 50) if confounded else rng.random(n) < 0.5
    lin = -0.5 + 1.5 * effect * drug + 0.01 * (age - 50)
    score = 50 + (0 if confounded else 8 * effect) * drug + (1.0 if confounded else 0.1) * age + rng.normal(0, 5, n)
    t = rng.exponential(100 * np.exp(0.8 * effect * drug))
    censor = rng.exponential(150, n)
    return pd.DataFrame({"pid": np.arange(n), "arm": np.where(drug, "drug", "placebo"), "age": age,
                         "sex": rng.choice(["f", "m"], n), "resp": rng.random(n) < 1 / (1 + np.exp(-lin)),
                         "score": score, "futime": np.minimum(t, censor).round(2), "status": (t <= censor).astype(int)})


def meta(**analysis) -> Metadata:
    m = copy.deepcopy(META)
    m["synth_analysis"].update(analysis)
    return Metadata.load(m)


def run(real, synthetic, m=None) -> dict:
    m = m or meta()
    return analysis_fidelity(real, synthetic, m, m.analysis)


def by_label(result: dict) -> dict:
    return {e["label"]: e for e in result["effects"]}


def test_ci_overlap_matches_hand_computed_values():
    assert ci_overlap((0.0, 2.0), (0.0, 2.0)) == 1.0
    assert ci_overlap((0.0, 2.0), (1.0, 5.0)) == pytest.approx(0.5 * (1 / 2 + 1 / 4))  # 0.375
    assert ci_overlap((0.0, 1.0), (0.0, 4.0)) == pytest.approx(0.5 * (1 + 1 / 4))  # nested
    assert ci_overlap((0.0, 1.0), (1.0, 2.0)) == 0.0  # touching
    assert ci_overlap((0.0, 1.0), (2.0, 3.0)) == pytest.approx(-1.0)  # disjoint by one width: negative
    assert math.isnan(ci_overlap((1.0, 1.0), (0.0, 2.0)))


def test_a_copy_of_the_real_data_agrees_on_every_effect():
    real = trial()
    res = run(real, real.copy())
    assert [e["label"] for e in res["effects"]] == ["resp", "score", "futime → status"]
    for e in res["effects"]:
        assert e["real"]["status"] == e["synthetic"]["status"] == "ok"
        assert e["real"]["p_value"] < 0.05  # a known strong effect
        assert e["ci_overlap"] == pytest.approx(1.0) and e["standardized_difference"] == pytest.approx(0.0)
        assert e["sign_agrees"] and e["significance_agrees"]
        assert (e["level"], e["reference"]) == ("drug", "placebo")
    assert res["sign_agreement"] == res["significance_agreement"] == res["mean_ci_overlap"] == pytest.approx(1.0)
    effects = by_label(res)
    assert effects["resp"]["real"]["estimate"] > 0 and effects["score"]["real"]["estimate"] > 0
    assert effects["futime → status"]["real"]["estimate"] < 0  # the drug lowers the hazard


def test_flipping_the_arm_flips_every_sign_and_the_intervals_part():
    real = trial()
    flipped = real.assign(arm=np.where(real["arm"] == "drug", "placebo", "drug"))
    res = run(real, flipped)
    for e in res["effects"]:
        assert e["synthetic"]["estimate"] == pytest.approx(-e["real"]["estimate"], rel=1e-4)
        assert not e["sign_agrees"] and not e["significance_agrees"]
        assert e["ci_overlap"] <= 0 and e["standardized_difference"] > 2
    assert res["sign_agreement"] == 0.0


def test_null_effect_real_and_synthetic_agree_on_no_significance():
    real, other = trial(effect=0.0, seed=1), trial(effect=0.0, seed=2)
    res = run(real, other)
    for e in res["effects"]:
        if e["real"]["p_value"] >= 0.05 and e["synthetic"]["p_value"] >= 0.05:
            assert e["significance_agrees"]
    assert res["significance_agreement"] >= 2 / 3
    strong = run(real, trial(effect=1.5, seed=2))
    assert strong["significance_agreement"] < res["significance_agreement"]


def test_ols_and_logistic_estimates_are_the_textbook_ones_without_covariates():
    real = trial()
    e = by_label(run(real, real))
    drug = real["arm"] == "drug"
    assert e["score"]["real"]["estimate"] == pytest.approx(real.loc[drug, "score"].mean() - real.loc[~drug, "score"].mean())
    a, b = real.loc[drug, "resp"].sum(), (~real.loc[drug, "resp"]).sum()
    c, d = real.loc[~drug, "resp"].sum(), (~real.loc[~drug, "resp"]).sum()
    assert e["resp"]["real"]["estimate"] == pytest.approx(math.log((a / b) / (c / d)), rel=1e-6)
    assert e["resp"]["model"] == "logistic regression" and e["score"]["scale"] == "difference in means"


def test_cox_log_hazard_ratio_is_near_the_truth_and_matches_lifelines():
    real = trial(n=1500, seed=3)
    e = by_label(run(real, real))["futime → status"]
    assert e["kind"] == "time_to_event" and e["scale"] == "log hazard ratio"
    assert e["real"]["estimate"] == pytest.approx(-0.8, abs=0.2)
    lifelines = pytest.importorskip("lifelines")
    cph = lifelines.CoxPHFitter().fit(real.assign(drug=(real["arm"] == "drug").astype(float))[["futime", "status", "drug"]],
                                      "futime", "status")
    assert e["real"]["estimate"] == pytest.approx(cph.params_["drug"], abs=1e-3)


def test_covariates_adjust_the_effect_and_categories_get_indicators():
    real = trial(confounded=True, seed=4)
    plain = by_label(run(real, real))["score"]["real"]
    adjusted = run(real, real, meta(covariates=["age", "sex"]))
    score = by_label(adjusted)["score"]["real"]
    assert plain["p_value"] < 0.05 and abs(plain["estimate"]) > 5  # confounded by age
    assert abs(score["estimate"]) < abs(plain["estimate"]) / 3  # adjusting for age removes most of it
    assert adjusted["covariates"] == ["age", "sex"] and "indicator" in adjusted["encoding"]
    # sex's level "x" never occurs: its indicator is constant and left out rather than breaking the fit
    assert all(e["real"]["status"] == "ok" for e in adjusted["effects"])


def test_rows_with_missing_values_are_left_out_and_counted():
    real = trial()
    real.loc[:29, "score"] = np.nan
    res = run(real, real)
    score = by_label(res)["score"]
    assert score["real"]["n"] == len(real) - 30 and score["real"]["left_out"] == 30
    assert by_label(res)["resp"]["real"]["left_out"] == 0
    assert any("30 real row(s)" in n and "'score'" in n for n in res["notes"])


def test_a_multi_level_arm_gives_each_level_against_the_first():
    real = trial()
    real["arm"] = np.where(real["arm"] == "drug", np.where(real["pid"] % 2 == 0, "high", "low"), "placebo")
    m = copy.deepcopy(META)
    m["columns"]["arm"]["range_values"] = ["placebo", "low", "high"]
    res = run(real, real, Metadata.load(m))
    assert res["levels"] == ["placebo", "low", "high"] and res["reference"] == "placebo"
    assert [(e["label"], e["level"]) for e in res["effects"]][:2] == [("resp", "low"), ("resp", "high")]
    assert len(res["effects"]) == 6 and all(e["sign_agrees"] for e in res["effects"])


def test_separation_in_the_synthetic_data_is_flagged_not_crashed():
    real = trial()
    syn = real.copy()
    syn.loc[syn["arm"] == "drug", "resp"] = True  # every drug patient responds: the log-OR runs off to +inf
    e = by_label(run(real, syn))["resp"]
    assert e["synthetic"]["status"] == "separation" and "separation in the synthetic data" in e["synthetic"]["message"]
    assert e["sign_agrees"] is True  # the direction of a separated effect still counts
    assert e["ci_overlap"] is None and e["significance_agrees"] is None


def test_a_fit_that_does_not_converge_is_reported(monkeypatch):
    class OneStep(effects_module.sm.Logit):
        def fit(self, *args, **kwargs):
            return super().fit(*args, **{**kwargs, "maxiter": 1})

    real = trial()
    monkeypatch.setattr(effects_module.sm, "Logit", OneStep)
    res = run(real, real)
    e = by_label(res)["resp"]
    assert e["synthetic"] == {"status": "failed", "message": "the model did not converge on the synthetic data",
                              "n": len(real), "left_out": 0}
    assert e["sign_agrees"] is None and e["ci_overlap"] is None
    assert any("did not converge on the synthetic data" in p for p in res["problems"])
    assert by_label(res)["score"]["ci_overlap"] == pytest.approx(1.0)  # the other models are unaffected


@pytest.mark.parametrize("change,message", [
    (lambda s: s.assign(resp=True), "the outcome takes one value in the synthetic data"),
    (lambda s: s.assign(arm="placebo"), "no patient of the synthetic data is in this arm"),
    (lambda s: s.assign(arm="drug"), "no patient of the synthetic data is in the reference arm"),
    (lambda s: s.assign(status=0), "no event in the synthetic data"),
])
def test_degenerate_synthetic_data_fail_with_a_message(change, message):
    real = trial()
    res = run(real, change(real.copy()))
    assert any(message in p for p in res["problems"]), res["problems"]


def test_options_replace_the_declaration_and_are_checked():
    m = meta()
    assert declaration(m) == m.analysis
    assert declaration(m, "arm", ["score"], ["age"]) == AnalysisDeclaration("arm", ("score",), ("age",))
    for args, message in [
        ((None, ["score"]), "--arm: give the arm column"),
        (("arm", None), "--outcome: give at least one outcome"),
        (("armm", ["score"]), "--arm: column 'armm' is not in the metadata \\(did you mean 'arm'\\?\\)"),
        (("age", ["score"]), "--arm: column 'age' is numerical"),
        (("arm", ["pid"]), "--outcome: column 'pid' is id"),
        (("arm", ["score", "score"]), "column 'score' is named twice"),
    ]:
        with pytest.raises(SynthError, match=message):
            declaration(m, *args)


def test_options_outcome_must_be_binary_when_categorical():
    m = meta()
    with pytest.raises(SynthError, match="--outcome: column 'sex' has 3 values"):
        analysis_fidelity(trial(), trial(), m, declaration(m, "arm", ["sex"]))
