"""``EvaluationReport``: every figure as JSON, a headline table, one self-contained HTML file."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from synth.eval.report_parts import human, ledger_html, readable, verdict_html
from synth.eval.verdict import verdict_frame
from synth.atomic import atomic_write_text
from synth.notebook import analysis_frame, analysis_html

__all__ = ["EvaluationReport", "DATA_OWNER_NOTICE"]

# The report embeds real data (distributions, correlations, treatment effects, trajectories,
# distances to real rows): it is for the data holder, never to travel with the synthetic CSV.
DATA_OWNER_NOTICE = ("FOR THE DATA HOLDER ONLY: this report contains real patient data (its histograms, "
                     "correlations, treatment effects, trajectories and distances are computed on the real rows) "
                     "and has no privacy guarantee. Do not share it with the synthetic CSV.")

# (section, key, label, what good looks like)
HEADLINES = [
    ("fidelity", "quality", "Quality (SDMetrics)", "1 = same shapes and pair trends"),
    ("fidelity", "column_shapes", "Column shapes", "1 = same marginals"),
    ("fidelity", "column_pair_trends", "Column pair trends", "1 = same pairwise relations"),
    ("fidelity", "validity", "Validity (Diagnostic)", "1 = every value in range"),
    ("fidelity", "structure", "Structure (Diagnostic)", "1 = same columns"),
    ("fidelity", "detection_auroc", "Detection AUROC (real vs synthetic)", "0.5 = indistinguishable"),
    ("fidelity", "correlation_agreement", "Correlation-structure agreement", "1 = same correlation ranks"),
    ("utility", "tstr_auroc", "AUROC trained on synthetic (TSTR)", "close to TRTR"),
    ("utility", "trtr_auroc", "AUROC trained on real (TRTR)", "reference"),
    ("utility", "ratio", "TSTR / TRTR", "1 = as useful as the real data"),
    ("utility", "importance_rank_agreement", "Feature-importance rank agreement", "1 = same ranking"),
    ("analysis", "sign_agreement", "Arm effects: same sign", "1 = every effect in the real direction"),
    ("analysis", "significance_agreement", "Arm effects: same significance (p < 0.05)", "1 = same conclusions"),
    ("analysis", "mean_ci_overlap", "Arm effects: 95% CI overlap (Karr et al. 2006)", "1 = same intervals; ≤ 0 disjoint"),
    ("sequences", "visit_count_tvd", "Visit-count distance (TVD)", "0 = same visits per patient"),
    ("sequences", "per_visit_quality", "Per-visit marginal quality", "1 = same marginals at each visit"),
    ("sequences", "visit_time_quality", "Visit-time quality", "1 = k-th visits at the same times"),
    ("privacy_risk", "exact_copy_rate", "Exact copies of training rows", "0 (holdout's own rate for reference)"),
    ("privacy_risk", "dcr_ratio", "Median DCR synthetic / holdout", "≥ 1: no closer than new patients"),
    ("privacy_risk", "mia_auroc", "Membership-inference AUROC", "0.5 = membership not revealed"),
    ("formal_privacy", "epsilon", "Formal ε (from .privacy.json)", "the guarantee"),
    ("formal_privacy", "delta", "Formal δ", "the guarantee"),
]


def _plain(value):
    """JSON-safe: NaN/inf/NA → None, numpy → Python (strict JSON has no NaN)."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


class EvaluationReport:
    """The result of :func:`synth.eval.evaluate`: ``results`` (every number) and plotly ``figures``."""

    def __init__(self, results: dict, figures: dict):
        self.results = results
        self.figures = figures

    def summary(self) -> pd.DataFrame:
        """The headline figures: section, metric, value, and what a good value looks like."""
        rows = []
        for section, key, label, good in HEADLINES:
            part = self.results.get(section)
            if part and key in part and part[key] is not None:
                rows.append({"section": section, "metric": label, "value": part[key], "good": good})
        if "sequences" in self.results:
            seq = self.results["sequences"]
            gaps = [abs(seq["lag1_real"][c] - seq["lag1_synthetic"][c]) for c in seq["lag1_real"]]
            if gaps:
                rows.append({"section": "sequences", "metric": "Lag-1 autocorrelation gap (mean |real − synthetic|)",
                             "value": float(np.nanmean(gaps)), "good": "0 = same visit-to-visit persistence"})
        return pd.DataFrame(rows, columns=["section", "metric", "value", "good"])

    def analysis(self) -> pd.DataFrame:
        """The arm effects on real and synthetic data, one row each (empty without an analysis);
        ``figures["analysis"]`` is their forest plot."""
        part = self.results.get("analysis")
        return analysis_frame(part) if part else pd.DataFrame()

    def verdict(self) -> pd.DataFrame:
        """The verdict's checks (check, value, verdict in words, threshold, what it means); the
        whole verdict, with its summary line and thresholds, is ``results["verdict"]``."""
        return verdict_frame(self.results.get("verdict") or {})

    def to_dict(self) -> dict:
        return _plain({"data_owner_only": True, "notice": DATA_OWNER_NOTICE, **self.results,
                       "summary": self.summary().to_dict(orient="records")})

    def to_json(self, path: str | Path) -> Path:
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return Path(path)

    def to_html(self, path: str | Path | None = None) -> str:
        """One self-contained HTML page (plotly.js inlined once: opens offline)."""
        parts = [_HEAD, f'<p class="owner" role="alert">{html.escape(DATA_OWNER_NOTICE)}</p>',
                 "<h1>Synthetic data evaluation</h1>", verdict_html(self.results.get("verdict"))]
        for w in self.results.get("warnings", []):
            parts.append(f'<p class="warn">⚠ {html.escape(w)}</p>')
        parts.append('<h2 id="headline">Headline figures</h2>')
        parts.append(self._table(self.summary()))
        first = True
        for title, key, section in _SECTIONS:
            if key not in self.figures and section not in self.results:
                continue
            parts.append(f'<h2 id="{key}">{title}</h2>')
            if section == "analysis" and self.results.get(section):
                parts.append(analysis_html(self.results[section]))
            elif section == "formal_privacy" and self.results.get(section):
                parts.append(ledger_html(self.results[section]))
            elif section in ("privacy_risk", "setup") and self.results.get(section):
                parts.append(self._kv(self.results[section]))
            elif section == "formal_privacy":
                parts.append("<p>No <code>.privacy.json</code> sidecar was found next to the synthetic CSV: "
                             "no formal guarantee is known for it.</p>")
            if key in self.figures:
                parts.append(readable(self.figures[key]).to_html(full_html=False, include_plotlyjs=first))
                first = False
        parts.append("</body></html>")
        page = "\n".join(parts)
        if path is not None:
            atomic_write_text(Path(path), page)
        return page

    def _repr_html_(self) -> str:
        page = (f'<p style="color:#b00020"><b>{html.escape(DATA_OWNER_NOTICE)}</b></p>'
                + verdict_html(self.results.get("verdict")) + self._table(self.summary()))
        if self.results.get("analysis"):
            page += "<h4>Trial analysis: the arm's effects, real vs synthetic</h4>" + analysis_html(self.results["analysis"])
        return page

    @staticmethod
    def _table(df: pd.DataFrame) -> str:
        body = "".join(
            f"<tr><td>{html.escape(str(r.section))}</td><td>{html.escape(str(r.metric))}</td>"
            f"<td>{human(r.value)}</td><td>{html.escape(str(r.good))}</td></tr>" for r in df.itertuples())
        return f"<table><tr><th>section</th><th>metric</th><th>value</th><th>good</th></tr>{body}</table>"

    @staticmethod
    def _kv(d: dict) -> str:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(human(_plain(v))[:2000])}</td></tr>"
                       for k, v in d.items())
        return f"<table>{rows}</table>"


_SECTIONS = [
    ("Setup", "setup", "setup"),
    ("Column distributions", "distributions", "fidelity"),
    ("Correlations", "correlations", "fidelity"),
    ("Downstream models (TSTR vs TRTR)", "utility", "utility"),
    ("Trial analysis: the arm's effects, real vs synthetic", "analysis", "analysis"),
    ("Visits per patient", "visit_counts", "sequences"),
    ("Trajectories", "trajectories", "sequences"),
    ("Privacy risk (empirical)", "privacy", "privacy_risk"),
    ("Formal privacy guarantee", "formal", "formal_privacy"),
]

_HEAD = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>synth evaluation</title>
<style>body{font-family:system-ui,sans-serif;max-width:1200px;margin:auto;padding:1em}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.warn{background:#fff3cd;padding:6px}code{font-size:85%}
.owner{background:#b00020;color:#fff;font-weight:bold;padding:10px;position:sticky;top:0}</style></head><body>"""

