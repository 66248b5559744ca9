"""Downstream utility: train on synthetic vs on real, test both on real held-out patients."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from synth.metadata import Metadata

__all__ = ["MODELS", "tstr_auroc"]

MODELS = {
    "logistic_regression": lambda seed: LogisticRegression(max_iter=2000),
    "random_forest": lambda seed: RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1),
    "gradient_boosting": lambda seed: HistGradientBoostingClassifier(random_state=seed),
}


def _features(meta: Metadata, target: str) -> tuple[list[str], list[str]]:
    num = [c for c, s in meta.columns.items() if s["sdtype"] in ("numerical",) and c != target]
    cat = [c for c, s in meta.columns.items() if s["sdtype"] in ("categorical", "boolean") and c != target]
    return num, cat


def _pipeline(meta: Metadata, target: str, model):
    num, cat = _features(meta, target)
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
        ("cat", make_pipeline(SimpleImputer(strategy="most_frequent"),
                              OneHotEncoder(handle_unknown="ignore")), cat),
    ])
    return make_pipeline(prep, model)


def _auroc(train: pd.DataFrame, test: pd.DataFrame, meta: Metadata, target: str, name: str, seed: int) -> float:
    y_train = train[target].astype(str)
    if y_train.nunique() < 2:
        return 0.5  # a model that saw one class cannot rank
    pipe = _pipeline(meta, target, MODELS[name](seed))
    num, cat = _features(meta, target)
    x_train = train[num + cat].copy()
    x_train[cat] = x_train[cat].astype(str)
    x_test = test[num + cat].copy()
    x_test[cat] = x_test[cat].astype(str)
    pipe.fit(x_train, y_train)
    proba = pipe.predict_proba(x_test)
    y_test = test[target].astype(str).to_numpy()
    classes = list(pipe.classes_)
    if len(np.unique(y_test)) == 2 and len(classes) == 2:
        return float(roc_auc_score(y_test, proba[:, 1], labels=classes))
    return float(roc_auc_score(y_test, proba, multi_class="ovr", labels=classes))


def tstr_auroc(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame,
               metadata: Metadata | dict | str, target: str, seed: int = 0) -> dict[str, dict[str, float]]:
    """AUROC on ``real_test`` of each model trained on synthetic (TSTR) and on real (TRTR)."""
    meta = Metadata.load(metadata)
    return {name: {"tstr": _auroc(synthetic, real_test, meta, target, name, seed),
                   "trtr": _auroc(real_train, real_test, meta, target, name, seed)} for name in MODELS}
