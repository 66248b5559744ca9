"""Downstream utility: train on synthetic (TSTR) vs on real (TRTR), both tested on real holdout."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline

from synth.eval.features import category_strings, feature_columns, model_frame, preprocessor
from synth.schema.columns import Schema, as_schema
from synth.schema.metadata import Metadata

__all__ = ["MODELS", "tstr_auroc", "downstream"]

MODELS = {
    "logistic_regression": lambda seed: LogisticRegression(max_iter=2000),
    "random_forest": lambda seed: RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
    "gradient_boosting": lambda seed: HistGradientBoostingClassifier(random_state=seed),
    "mlp": lambda seed: MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=300, early_stopping=True,
                                      random_state=seed),
}
BENCH_MODELS = ("logistic_regression", "random_forest", "gradient_boosting")


def _fit_score(train, test, schema, target, name, seed) -> dict[str, float]:
    y_train = category_strings(train[target])
    y_test = category_strings(test[target]).to_numpy()
    if y_train.nunique() < 2:  # a model that saw one class cannot rank
        return {"auroc": 0.5, "accuracy": float(np.mean(y_test == y_train.iloc[0])), "importance": None,
                "per_class": {c: _one_vs_rest(y_test == c, None) for c in np.unique(y_test)}}
    pipe = make_pipeline(preprocessor(schema, (target,)), MODELS[name](seed))
    if name == "mlp" and len(y_train) < 100:  # too few rows for its stratified validation split
        pipe[-1].set_params(early_stopping=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*(converge|Stochastic Optimizer).*")
        pipe.fit(model_frame(train, schema, (target,)), y_train)
        x_test = model_frame(test, schema, (target,))
        proba = pipe.predict_proba(x_test)
    classes = list(pipe.classes_)
    if len(np.unique(y_test)) < 2:
        auroc = float("nan")
    elif len(classes) == 2:
        auroc = float(roc_auc_score(y_test, proba[:, 1], labels=classes)) if set(y_test) <= set(classes) else 0.5
    else:  # a class the test rows lack has no AUROC of its own: sklearn warns and averages the rest
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
            auroc = float(roc_auc_score(y_test, proba, multi_class="ovr", labels=classes))
    acc = float(accuracy_score(y_test, np.asarray(classes)[proba.argmax(axis=1)]))
    per_class = {c: _one_vs_rest(y_test == c, proba[:, classes.index(c)] if c in classes else None)
                 for c in np.unique(y_test)}
    importance = None
    if name == "random_forest":
        names = pipe[0].get_feature_names_out()
        num, cat = feature_columns(schema, (target,))
        raw = pipe[-1].feature_importances_
        importance = {c: float(sum(v for f, v in zip(names, raw) if f == f"num__{c}" or f.startswith(f"cat__{c}_")))
                      for c in num + cat}
    return {"auroc": auroc, "accuracy": acc, "importance": importance, "per_class": per_class}


def _one_vs_rest(is_class: np.ndarray, score: np.ndarray | None) -> float:
    """AUROC of one class against the rest; 0.5 when the model never saw the class (it cannot rank)."""
    if is_class.all() or not is_class.any():
        return float("nan")
    return 0.5 if score is None else float(roc_auc_score(is_class, score))


def downstream(real_train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
               metadata: Schema | Metadata | dict | str, target: str, seed: int = 0,
               models: tuple[str, ...] = tuple(MODELS)) -> dict:
    """Per model: AUROC (one-vs-rest when multi-class) and accuracy of TSTR and TRTR, their ratio;
    each holdout class's one-vs-rest AUROC (``per_class``, also averaged over the models at the
    top level: a multi-class AUROC is the mean of these, so a class the synthetic data cannot
    rank shows here); and the Spearman agreement of random-forest feature-importance ranks
    (synthetic vs real). ``metadata``: the columns resolved (a Schema), or metadata to resolve."""
    schema = as_schema(metadata)
    out: dict = {"models": {}}
    importances = {}
    for name in models:
        s = _fit_score(synthetic, holdout, schema, target, name, seed)
        r = _fit_score(real_train, holdout, schema, target, name, seed)
        out["models"][name] = {"tstr_auroc": s["auroc"], "trtr_auroc": r["auroc"],
                               "ratio": s["auroc"] / r["auroc"] if r["auroc"] else float("nan"),
                               "tstr_accuracy": s["accuracy"], "trtr_accuracy": r["accuracy"],
                               "per_class": {c: {"tstr": s["per_class"][c], "trtr": r["per_class"][c]}
                                             for c in r["per_class"]}}
        if s["importance"] is not None and r["importance"] is not None:
            importances = {"synthetic": s["importance"], "real": r["importance"]}
    ms = out["models"].values()
    out["tstr_auroc"] = _nanmean([m["tstr_auroc"] for m in ms])
    out["trtr_auroc"] = _nanmean([m["trtr_auroc"] for m in ms])
    out["ratio"] = out["tstr_auroc"] / out["trtr_auroc"]
    out["per_class"] = {c: {k: _nanmean([m["per_class"][c][k] for m in ms]) for k in ("tstr", "trtr")}
                        for c in next(iter(ms))["per_class"]} if out["models"] else {}
    if importances and len(importances["real"]) > 2:
        cols = list(importances["real"])
        rho = spearmanr([importances["real"][c] for c in cols], [importances["synthetic"][c] for c in cols])
        out["importance_rank_agreement"] = float(rho.statistic)
        out["importances"] = importances
    else:
        out["importance_rank_agreement"] = float("nan")
    return out


def _nanmean(values: list[float]) -> float:
    ok = [v for v in values if not np.isnan(v)]
    return float(np.mean(ok)) if ok else float("nan")


def tstr_auroc(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame,
               metadata: Schema | Metadata | dict | str, target: str, seed: int = 0) -> dict[str, dict[str, float]]:
    """AUROC on ``real_test`` of LR, RF and GB trained on synthetic (TSTR) and on real (TRTR)."""
    res = downstream(real_train, synthetic, real_test, metadata, target, seed, BENCH_MODELS)
    return {k: {"tstr": v["tstr_auroc"], "trtr": v["trtr_auroc"]} for k, v in res["models"].items()}
