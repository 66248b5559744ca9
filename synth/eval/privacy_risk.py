"""Empirical privacy risk, next to the formal ε: distances to closest record, exact copies, and a
distance-based membership-inference attack with holdout patients as non-members.

These figures cannot prove privacy (only the DP guarantee does); they flag releases that copy
or sit unusually close to training records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from synth.eval.features import model_frame, preprocessor
from synth.schema.columns import Schema, as_schema
from synth.schema.metadata import Metadata

__all__ = ["privacy_risk"]


def _row_keys(frame: pd.DataFrame) -> list[tuple]:
    """Each row as a tuple of strings (numbers to 9 significant digits; NaN as "nan")."""
    rounded = frame.apply(lambda s: s.map(lambda v: f"{v:.9g}") if s.dtype.kind == "f" else s.astype(str))
    return list(rounded.itertuples(index=False, name=None))


def _dense(x) -> np.ndarray:
    return x.toarray() if hasattr(x, "toarray") else np.asarray(x)


def privacy_risk(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame,
                 metadata: Schema | Metadata | dict | str, max_rows: int = 5000, seed: int = 0,
                 return_distances: bool = False) -> dict:
    """DCR: each synthetic row's distance to its closest training row, against the same for
    holdout rows (a synthetic median well below the holdout's means records are being echoed).
    Exact copies: share of synthetic rows equal to a training row on every feature.
    MIA AUROC: training (member) vs holdout (non-member) rows scored by closeness to the nearest
    synthetic row; 0.5 means membership cannot be told apart this way. ``metadata``: the columns
    resolved (a Schema), or metadata to resolve."""
    schema = as_schema(metadata)
    rng = np.random.default_rng(seed)

    def cap(df: pd.DataFrame) -> pd.DataFrame:
        return df.iloc[rng.choice(len(df), max_rows, replace=False)] if len(df) > max_rows else df

    train, synthetic, holdout = cap(train), cap(synthetic), cap(holdout)
    frames = [model_frame(d, schema) for d in (train, synthetic, holdout)]
    train_rows = set(_row_keys(frames[0]))
    copies = [float(np.mean([k in train_rows for k in _row_keys(f)])) if len(f) else float("nan")
              for f in frames[1:]]
    prep = preprocessor(schema).fit(frames[0])
    t, s, h = (_dense(prep.transform(f)) for f in frames)
    to_train = NearestNeighbors(n_neighbors=1, algorithm="ball_tree").fit(t)  # exact distances
    dcr_syn = to_train.kneighbors(s)[0][:, 0]
    dcr_hold = to_train.kneighbors(h)[0][:, 0]
    to_syn = NearestNeighbors(n_neighbors=1, algorithm="ball_tree").fit(s)
    d_members = to_syn.kneighbors(t)[0][:, 0]
    d_non = to_syn.kneighbors(h)[0][:, 0]
    y = np.r_[np.ones(len(d_members)), np.zeros(len(d_non))]
    mia = float(roc_auc_score(y, -np.r_[d_members, d_non])) if len(d_non) else float("nan")
    med_hold = float(np.median(dcr_hold))
    out = {
        "dcr_synthetic_median": float(np.median(dcr_syn)),
        "dcr_holdout_median": med_hold,
        "dcr_ratio": float(np.median(dcr_syn) / med_hold) if med_hold > 0 else float("nan"),
        "dcr_synthetic_5pct": float(np.percentile(dcr_syn, 5)),
        "dcr_holdout_5pct": float(np.percentile(dcr_hold, 5)),
        "exact_copy_rate": copies[0],
        "holdout_exact_copy_rate": copies[1],
        "mia_auroc": mia,
    }
    if return_distances:
        out["distances"] = {"synthetic": dcr_syn, "holdout": dcr_hold}
    return out
