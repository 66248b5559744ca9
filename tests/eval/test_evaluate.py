"""evaluate(): maxima on identical data, broken pairs detected, copies flagged, report files, CLI = API."""

import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import SynthError
from synth.cli import app
from synth.eval import evaluate
from synth.eval.sequences import patient_features, per_visit_quality, visit_count_distance, visit_time_quality
from tests.conftest import TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits


def correlated_trial(n, seed):
    df = make_trial(n, seed)
    rng = np.random.default_rng(seed)
    df["weight"] = np.round(40 + df["age"] * 0.8 + rng.normal(0, 3, n), 2)  # a strong pair trend
    df["arm"] = np.where(df["age"] + rng.normal(0, 8, n) > 50, "drug", "placebo")  # predictable target
    return df


@pytest.fixture(scope="module")
def data():
    return correlated_trial(400, 0), correlated_trial(150, 1)


@pytest.fixture(scope="module")
def identical(data):
    real, hold = data
    return evaluate(real, real.copy(), TRIAL_META, target="arm", holdout=hold)


def test_identical_data_scores_at_the_maximum(identical):
    f, u = identical.results["fidelity"], identical.results["utility"]
    assert f["quality"] == pytest.approx(1.0) and f["column_shapes"] == pytest.approx(1.0)
    assert f["detection_auroc"] < 0.6
    assert f["correlation_agreement"] == pytest.approx(1.0)
    assert u["ratio"] == pytest.approx(1.0, abs=0.02)
    assert u["importance_rank_agreement"] > 0.9


def test_copied_training_data_is_flagged(identical):
    risk = identical.results["privacy_risk"]
    assert risk["exact_copy_rate"] == 1.0 and risk["holdout_exact_copy_rate"] == 0.0
    assert risk["mia_auroc"] > 0.9 and risk["dcr_synthetic_median"] == 0.0


def test_independently_shuffled_columns_break_pairs_not_shapes(data, identical):
    real, hold = data
    rng = np.random.default_rng(5)
    shuffled = real.apply(lambda s: pd.Series(rng.permutation(s.to_numpy()), index=s.index))
    r = evaluate(real, shuffled, TRIAL_META, target="arm", holdout=hold).results
    assert r["fidelity"]["column_shapes"] == pytest.approx(1.0)
    assert r["fidelity"]["column_pair_trends"] < identical.results["fidelity"]["column_pair_trends"] - 0.1
    assert r["fidelity"]["detection_auroc"] > 0.7
    assert r["utility"]["ratio"] < 0.8
    assert r["privacy_risk"]["exact_copy_rate"] < 0.05


def test_html_is_self_contained_and_has_every_section(identical, tmp_path):
    page = identical.to_html(tmp_path / "r.html")
    ids = []

    class Sections(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "h2":
                ids.append(dict(attrs)["id"])
            if tag == "script":
                assert "src" not in dict(attrs)  # no CDN: opens offline

    Sections().feed(page)
    assert ids == ["verdict", "headline", "setup", "distributions", "correlations", "utility", "privacy", "formal"]
    assert "Plotly.newPlot" in page and (tmp_path / "r.html").read_text() == page
    assert identical.summary()["metric"].str.contains("TSTR / TRTR").any()


def test_cli_and_api_give_the_same_numbers(data, tmp_path, meta_file):
    real, hold = data
    paths = {}
    for name, df in {"real": real, "syn": real.sample(frac=1.0, random_state=2), "hold": hold}.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    res = CliRunner().invoke(app, ["evaluate", "--real", str(paths["real"]), "--synthetic", str(paths["syn"]),
                                   "-m", str(meta_file), "--target", "arm", "--holdout", str(paths["hold"]),
                                   "-o", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    cli = json.loads((tmp_path / "r.json").read_text())
    api = evaluate(*(pd.read_csv(paths[k]) for k in ("real", "syn")), TRIAL_META, target="arm",
                   holdout=pd.read_csv(paths["hold"])).to_dict()
    assert cli["summary"] == api["summary"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(target="nope"), "target column 'nope' is not in the metadata"),
    (dict(target="age"), "must be categorical"),
    (dict(synthetic=make_trial(5)), "the synthetic data has fewer than 10 rows"),
    (dict(synthetic=make_trial(50).drop(columns=["age"])), "column 'age' from the metadata is not in the synthetic"),
])
def test_bad_input_gets_a_clear_error(data, kwargs, message):
    real, hold = data
    args = dict(real=real, synthetic=real, metadata=TRIAL_META, holdout=hold) | kwargs
    with pytest.raises(SynthError, match=message):
        evaluate(**args)


def test_constant_target_is_an_error_and_one_class_holdout_a_warning(data):
    real, hold = data
    with pytest.raises(SynthError, match="constant in the real data"):
        evaluate(real.assign(arm="drug"), real, TRIAL_META, target="arm", holdout=hold)
    r = evaluate(real, real, TRIAL_META, target="arm", holdout=hold.assign(arm="drug"))
    assert any("holdout has one value" in w for w in r.results["warnings"])


def test_without_holdout_the_split_is_stated(data):
    r = evaluate(data[0], data[0], TRIAL_META)
    assert r.results["setup"]["holdout"].startswith("none given")
    assert any("no holdout" in w for w in r.results["warnings"])


def test_sequences_identical_scores_at_the_maximum():
    real = make_visits(60)
    r = evaluate(real, real.copy(), SEQ_META, target="arm", holdout=make_visits(30, seed=1)).results
    assert r["sequences"]["visit_count_tvd"] == 0.0
    assert r["sequences"]["per_visit_quality"] == pytest.approx(1.0)
    assert r["sequences"]["visit_time_quality"] == pytest.approx(1.0)
    assert r["sequences"]["lag1_real"] == r["sequences"]["lag1_synthetic"]
    fewer = real[real.groupby("pid").cumcount() == 0]  # everyone with one visit
    assert visit_count_distance(real, fewer, "pid") > 0.5
    assert per_visit_quality(real, fewer, SEQ_META)["by_visit"].keys() == {1}


def test_visit_time_quality_falls_as_the_visits_drift_and_ignores_everything_else():
    real = make_visits(60)
    labs_changed = real.assign(lab=real["lab"] + 5.0)
    assert visit_time_quality(real, labs_changed, SEQ_META)["visit_time_quality"] == pytest.approx(1.0)
    scores = [visit_time_quality(real, real.assign(day=real["day"] + shift), SEQ_META)["visit_time_quality"]
              for shift in (0, 30, 1000)]
    assert scores[0] == pytest.approx(1.0) and 0.0 < scores[1] < 1.0 and scores[2] == pytest.approx(0.0)


def test_patient_slopes_match_a_plain_least_squares_fit():
    real = make_visits(30)
    feats = patient_features(real, SEQ_META)
    for i, (_, p) in enumerate(real.sort_values(["pid", "day"]).groupby("pid")):
        ok = p["lab"].notna()
        expected = np.polyfit(p["day"][ok], p["lab"][ok], 1)[0] if ok.sum() >= 2 and p["day"][ok].nunique() > 1 \
            else np.nan
        assert feats["lab_slope"].iloc[i] == pytest.approx(expected, nan_ok=True)
    assert feats["n_visits"].tolist() == real.groupby("pid").size().tolist()


def _as_read_from_csv(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Integer categories with gaps, as pandas reads them from a CSV: floats (1.0, NaN)."""
    out = df.copy()
    out[column] = pd.to_numeric(out[column]).astype(float)
    return out


def test_integer_categories_read_as_floats_are_the_same_categories():
    """Real 1.0 (a CSV column with gaps) and synthetic 1 (Int64) are one category everywhere."""
    real = make_visits(60)
    real["stage"] = real["stage"].astype("Int64")
    as_floats = _as_read_from_csv(real, "stage")
    assert per_visit_quality(as_floats, real, SEQ_META)["per_visit_quality"] == pytest.approx(1.0)
    trial, hold = correlated_trial(300, 0), correlated_trial(150, 1)
    trial["arm"] = np.where(trial["arm"] == "drug", 1, 0)
    hold["arm"] = np.where(hold["arm"] == "drug", 1, 0)
    meta = json.loads(json.dumps(TRIAL_META))
    meta["tables"][next(iter(meta["tables"]))]["columns"]["arm"]["range_values"] = [0, 1]
    from synth.eval.utility import tstr_auroc
    same = tstr_auroc(trial, trial, _as_read_from_csv(hold, "arm"), meta, "arm", seed=0)
    assert all(v["tstr"] == pytest.approx(v["trtr"]) and v["trtr"] > 0.7 for v in same.values())
    feature = trial.assign(arm=np.where(trial["age"] > 50, "drug", "placebo"),
                           sex=trial["age"].gt(50).astype(int))  # a feature that predicts the target
    meta["tables"][next(iter(meta["tables"]))]["columns"]["arm"]["range_values"] = ["drug", "placebo"]
    meta["tables"][next(iter(meta["tables"]))]["columns"]["sex"] = {"sdtype": "categorical"}
    only_sex = {c: {"sdtype": "id"} for c in feature.columns if c not in ("sex", "arm")}
    meta["tables"][next(iter(meta["tables"]))]["columns"].update(only_sex)
    holdout = _as_read_from_csv(feature.assign(sex=feature["sex"].where(feature.index % 7 > 0)), "sex")
    by_sex = tstr_auroc(feature, feature, holdout, meta, "arm", seed=0)
    assert all(v["tstr"] > 0.8 for v in by_sex.values())  # 1.0 and 1 are one category
