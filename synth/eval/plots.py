"""Plotly figures for the evaluation report (real vs synthetic side by side)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from synth.eval.features import category_strings
from synth.schema.columns import Schema
from synth.schema.sdtypes import is_number

__all__ = ["distributions", "correlation_heatmaps", "utility_bars", "dcr_histogram", "visit_counts",
           "trajectories", "forest_plot"]

REAL, SYN = "#1f77b4", "#ff7f0e"


def distributions(real: pd.DataFrame, syn: pd.DataFrame, schema: Schema, columns: list[str],
                  scores: dict[str, float]) -> go.Figure:
    cols = columns[:30]
    ncols = 3
    nrows = max(1, math.ceil(len(cols) / ncols))
    titles = [f"{c} (score {scores[c]:.2f})" if c in scores else c for c in cols]
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles)
    for i, c in enumerate(cols):
        r, k = divmod(i, ncols)
        show = i == 0
        if is_number(schema[c].sdtype):
            a, b = pd.to_numeric(real[c], errors="coerce"), pd.to_numeric(syn[c], errors="coerce")
            lo, hi = np.nanmin([a.min(), b.min()]), np.nanmax([a.max(), b.max()])
            bins = dict(start=lo, end=hi, size=(hi - lo) / 30 if hi > lo else 1)
            for s, name, color in ((a, "real", REAL), (b, "synthetic", SYN)):
                fig.add_trace(go.Histogram(x=s, xbins=bins, histnorm="probability", name=name, opacity=0.6,
                                           marker_color=color, legendgroup=name, showlegend=show), r + 1, k + 1)
        else:
            a, b = (category_strings(d[c]).value_counts(normalize=True) for d in (real, syn))
            cats = list(a.index.union(b.index))[:25]
            for s, name, color in ((a, "real", REAL), (b, "synthetic", SYN)):
                fig.add_trace(go.Bar(x=cats, y=s.reindex(cats, fill_value=0), name=name, marker_color=color,
                                     legendgroup=name, showlegend=show), r + 1, k + 1)
    fig.update_layout(barmode="overlay", height=260 * nrows, title="Column distributions (share of rows)")
    return fig


def correlation_heatmaps(real_corr: pd.DataFrame, syn_corr: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["real", "synthetic"])
    for i, m in enumerate((real_corr, syn_corr)):
        fig.add_trace(go.Heatmap(z=m.to_numpy(), x=list(m.columns), y=list(m.index), zmin=-1, zmax=1,
                                 colorscale="RdBu", showscale=i == 1), 1, i + 1)
    fig.update_layout(title="Spearman correlations between numeric columns", height=520)
    return fig


def utility_bars(models: dict[str, dict]) -> go.Figure:
    names = list(models)
    fig = go.Figure([
        go.Bar(x=names, y=[models[m]["trtr_auroc"] for m in names], name="trained on real (TRTR)", marker_color=REAL),
        go.Bar(x=names, y=[models[m]["tstr_auroc"] for m in names], name="trained on synthetic (TSTR)",
               marker_color=SYN),
    ])
    fig.update_layout(barmode="group", title="AUROC on real holdout patients", yaxis_range=[0, 1], height=400)
    return fig


def dcr_histogram(dcr_syn: np.ndarray, dcr_hold: np.ndarray) -> go.Figure:
    fig = go.Figure([go.Histogram(x=dcr_hold, name="holdout → train", histnorm="probability", opacity=0.6,
                                  marker_color=REAL),
                     go.Histogram(x=dcr_syn, name="synthetic → train", histnorm="probability", opacity=0.6,
                                  marker_color=SYN)])
    fig.update_layout(barmode="overlay", title="Distance to the closest training record", height=380)
    return fig


def visit_counts(real: pd.DataFrame, syn: pd.DataFrame, key: str) -> go.Figure:
    a, b = (d.groupby(key).size().value_counts(normalize=True).sort_index() for d in (real, syn))
    fig = go.Figure([go.Bar(x=a.index, y=a.values, name="real", marker_color=REAL),
                     go.Bar(x=b.index, y=b.values, name="synthetic", marker_color=SYN)])
    fig.update_layout(barmode="group", title="Visits per patient (share of patients)", height=380)
    return fig


def trajectories(real: pd.DataFrame, syn: pd.DataFrame, schema: Schema, columns: list[str],
                 patients: int = 6, seed: int = 0) -> go.Figure:
    cols = columns[:3]
    fig = make_subplots(rows=len(cols), cols=2, subplot_titles=[f"{c}: {w}" for c in cols
                                                                for w in ("real", "synthetic")])
    rng = np.random.default_rng(seed)
    key, index = schema.sequence_key, schema.sequence_index
    for j, (df, color) in enumerate(((real, REAL), (syn, SYN))):
        ids = df[key].unique()
        chosen = rng.choice(ids, size=min(patients, len(ids)), replace=False)
        for pid in chosen:
            p = df[df[key] == pid].sort_values(index)
            for i, c in enumerate(cols):
                fig.add_trace(go.Scatter(x=p[index], y=p[c], mode="lines+markers", line_color=color,
                                         opacity=0.7, showlegend=False), i + 1, j + 1)
    fig.update_layout(title=f"Trajectories of {patients} random patients", height=300 * len(cols))
    return fig


def forest_plot(effects: list[dict]) -> go.Figure:
    """The arm's effect on each outcome, real above synthetic, each with its 95% CI; one panel per
    effect (outcomes have different scales), a dashed line at no effect (0). A separated fit is
    an ×, without its CI; a failed one a note."""
    shown = effects[:30]
    titles = [f"{e['label']}: {e['level']} vs {e['reference']} ({e['scale']})" for e in shown]
    fig = make_subplots(rows=max(1, len(shown)), cols=1, subplot_titles=titles or ["no effect"],
                        vertical_spacing=min(0.3, 0.5 / max(1, len(shown))))
    for i, e in enumerate(shown):
        for y, name, color in ((1, "real", REAL), (0, "synthetic", SYN)):
            side = e[name]
            if side["status"] == "failed":
                fig.add_annotation(x=0, y=y, text=f"{name}: {side['message']}", showarrow=False, row=i + 1, col=1)
                continue
            est, lo, hi = side["estimate"], side["ci_low"], side["ci_high"]
            separated = side["status"] == "separation"  # its CI is meaningless and would squash the panel
            fig.add_trace(go.Scatter(
                x=[est], y=[y], mode="markers", name=name, legendgroup=name, showlegend=i == 0,
                marker=dict(color=color, size=10, symbol="x" if separated else "square"),
                error_x=dict(type="data", symmetric=False, array=[hi - est], arrayminus=[est - lo], color=color,
                             visible=not separated),
                hovertemplate=(f"{name}: %{{x:.3g}}, separation: CI not shown<extra></extra>" if separated else
                               f"{name}: %{{x:.3g}} [{lo:.3g}, {hi:.3g}], p = {side['p_value']:.3g}<extra></extra>")),
                i + 1, 1)
        fig.add_vline(x=0, line_dash="dash", line_color="#888", row=i + 1, col=1)
        fig.update_yaxes(tickvals=[0, 1], ticktext=["synthetic", "real"], range=[-0.6, 1.6], row=i + 1, col=1)
    fig.update_layout(title="The arm's effect on each outcome: estimate and 95% CI, real vs synthetic",
                      height=120 + 170 * max(1, len(shown)))
    return fig
