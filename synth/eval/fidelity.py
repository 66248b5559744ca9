"""Fidelity: SDMetrics' Quality and Diagnostic reports, a detection score, correlation agreement.

Works on any CSV pair with SDV-style metadata (synthetic data from other tools included).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sdmetrics.reports import DiagnosticReport, QualityReport
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from synth.eval.features import feature_columns, model_frame, preprocessor
from synth.schema.columns import Schema, as_schema
from synth.schema.metadata import Metadata

__all__ = ["quality", "sdmetrics_reports", "detection", "correlation_agreement", "correlation_matrix"]


def _sdv(meta: Metadata) -> dict:
    sdv = meta.to_dict(strip_domain=True)
    for table in sdv["tables"].values():  # single-table reports: keys as plain ids
        table.pop("sequence_key", None)
        table.pop("sequence_index", None)
    return sdv


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Metadata | dict | str) -> dict[str, float]:
    """Overall quality score and its two properties (Column Shapes, Column Pair Trends), in [0, 1]."""
    return {k: v for k, v in sdmetrics_reports(real, synthetic, metadata, diagnostic=False).items()
            if not isinstance(v, (dict, list))}


def sdmetrics_reports(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Metadata | dict | str,
                      diagnostic: bool = True) -> dict:
    """QualityReport (shapes, pair trends, per-column scores) and DiagnosticReport (validity, structure)."""
    meta = Metadata.load(metadata)
    sdv, name = _sdv(meta), meta.table_name
    report = QualityReport()
    report.generate({name: real}, {name: synthetic}, sdv, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    shapes = report.get_details("Column Shapes")
    out = {"quality": float(report.get_score()), "column_shapes": float(props["Column Shapes"]),
           "column_pair_trends": float(props["Column Pair Trends"]),
           "per_column": {str(r["Column"]): float(r["Score"]) for _, r in shapes.iterrows()}}
    if diagnostic:
        diag = DiagnosticReport()
        diag.generate({name: real}, {name: synthetic}, sdv, verbose=False)
        dprops = diag.get_properties().set_index("Property")["Score"]
        out.update({"diagnostic": float(diag.get_score()), "validity": float(dprops["Data Validity"]),
                    "structure": float(dprops["Data Structure"])})
    return out


def detection(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Schema | Metadata | dict | str,
              seed: int = 0, max_rows: int = 5000) -> float:
    """Cross-validated AUROC of a classifier telling real rows from synthetic ones.

    0.5: indistinguishable; 1.0: every synthetic row is recognisable. Each side is subsampled to
    at most ``max_rows`` rows (and to the smaller side) so both classes weigh the same.
    ``metadata``: the columns resolved (a Schema), or metadata to resolve.
    """
    schema = as_schema(metadata)
    k = min(len(real), len(synthetic), max_rows)
    both = pd.concat([real.sample(k, random_state=seed), synthetic.sample(k, random_state=seed)],
                     ignore_index=True)
    y = np.r_[np.ones(k), np.zeros(k)]
    pipe = make_pipeline(preprocessor(schema), HistGradientBoostingClassifier(max_iter=100, random_state=seed))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        scores = cross_val_score(pipe, model_frame(both, schema), y, cv=3, scoring="roc_auc")
    return float(max(0.5, np.mean(scores)))


def correlation_matrix(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Spearman correlations between numeric columns (datetimes as days)."""
    num, _ = feature_columns(schema)
    return model_frame(df, schema)[num].corr(method="spearman")


def correlation_agreement(real: pd.DataFrame, synthetic: pd.DataFrame,
                          metadata: Schema | Metadata | dict | str) -> float:
    """Spearman correlation between the real and synthetic pairwise-correlation vectors (1 = same
    structure); NaN with fewer than three numeric columns."""
    schema = as_schema(metadata)
    a, b = correlation_matrix(real, schema), correlation_matrix(synthetic, schema)
    iu = np.triu_indices(len(a), k=1)
    x, y = a.to_numpy()[iu], b.to_numpy()[iu]
    ok = ~(np.isnan(x) | np.isnan(y))
    if ok.sum() < 3:
        return float("nan")
    return float(spearmanr(x[ok], y[ok]).statistic)
