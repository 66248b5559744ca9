"""Fidelity: SDMetrics' QualityReport on one table (works on any CSV pair with metadata)."""

from __future__ import annotations

import pandas as pd
from sdmetrics.reports import QualityReport

from synth.metadata import Metadata

__all__ = ["quality"]


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Metadata | dict | str) -> dict[str, float]:
    """Overall quality score and its two properties (Column Shapes, Column Pair Trends), in [0, 1]."""
    meta = Metadata.load(metadata)
    sdv = meta.to_dict(strip_domain=True)
    report = QualityReport()
    report.generate({meta.table_name: real}, {meta.table_name: synthetic}, sdv, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return {"quality": float(report.get_score()), "column_shapes": float(props["Column Shapes"]),
            "column_pair_trends": float(props["Column Pair Trends"])}
