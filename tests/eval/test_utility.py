"""downstream(): per-class one-vs-rest AUROC agrees with the multi-class figure and shows a lost class."""

import numpy as np
import pandas as pd
import pytest

from synth.eval.utility import downstream

META = {"METADATA_SPEC_VERSION": "V1", "tables": {"t": {"columns": {
    "x1": {"sdtype": "numerical"}, "x2": {"sdtype": "numerical"}, "y": {"sdtype": "categorical"}}}}}


def three_classes(n: int, seed: int) -> pd.DataFrame:
    """Class a, b and c around three well-separated centres."""
    rng = np.random.default_rng(seed)
    y = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    centre = {"a": (0.0, 0.0), "b": (3.0, 0.0), "c": (0.0, 3.0)}
    xy = np.array([centre[v] for v in y]) + rng.normal(0, 1, (n, 2))
    return pd.DataFrame({"x1": xy[:, 0], "x2": xy[:, 1], "y": y})


@pytest.fixture(scope="module")
def data():
    return three_classes(600, 0), three_classes(300, 1)


def test_per_class_auroc_averages_to_the_multiclass_auroc(data):
    train, hold = data
    res = downstream(train, train, hold, META, "y", seed=0, models=("logistic_regression", "random_forest"))
    for m in res["models"].values():
        per = m["per_class"]
        assert set(per) == {"a", "b", "c"}
        assert np.mean([v["tstr"] for v in per.values()]) == pytest.approx(m["tstr_auroc"], abs=1e-12)
        assert np.mean([v["trtr"] for v in per.values()]) == pytest.approx(m["trtr_auroc"], abs=1e-12)
    assert all(v["trtr"] > 0.85 for v in res["per_class"].values())


def test_a_class_the_synthetic_data_lost_shows_in_its_own_auroc(data):
    train, hold = data
    lost = train.copy()
    is_c = lost["y"] == "c"  # synthetic class c drawn where class b lives: real c patients rank last
    lost.loc[is_c, ["x1", "x2"]] = train.loc[train["y"] == "b", ["x1", "x2"]].sample(
        int(is_c.sum()), replace=True, random_state=2).to_numpy()
    res = downstream(train, lost, hold, META, "y", seed=0, models=("logistic_regression",))["per_class"]
    assert res["c"]["tstr"] < 0.5 < 0.85 < res["c"]["trtr"]
    assert res["b"]["tstr"] > 0.85  # the other classes keep theirs

    without_c = train[train["y"] != "c"]  # a model that never saw class c cannot rank it
    res = downstream(train, without_c, hold, META, "y", seed=0, models=("logistic_regression",))["per_class"]
    assert res["c"]["tstr"] == 0.5 and res["c"]["trtr"] > 0.85

    only_a = train[train["y"] == "a"]  # a model trained on one class ranks nothing
    res = downstream(train, only_a, hold, META, "y", seed=0, models=("logistic_regression",))["per_class"]
    assert all(v["tstr"] == 0.5 and v["trtr"] > 0.85 for v in res.values())
