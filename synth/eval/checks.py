"""Figures for the verdict that :func:`synth.eval.evaluate` does not compute elsewhere: the
implausible tails of each numerical column, the declared analysis in plain words, and each
strong real pair's correlation under Pearson and Spearman.

Like the rest of the evaluation report these read the real data and are for the data holder:
the tails use the real data's 0.5%/99.5% percentiles, which are never released.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from synth.eval.features import feature_columns, model_frame
from synth.schema.columns import Schema, as_schema
from synth.schema.metadata import Metadata

__all__ = ["TAIL_QUANTILES", "tail_shares", "analysis_findings", "strong_pairs"]

TAIL_QUANTILES = (0.005, 0.995)


def tail_shares(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Schema | Metadata) -> list[dict]:
    """Per numeric column (datetimes as days): the share of synthetic values (present ones) below
    the real data's 0.5% percentile or above its 99.5% percentile, and the real data's own share
    beyond them (about 1%), largest synthetic share first."""
    schema = as_schema(meta)
    num, _ = feature_columns(schema)
    a, b = model_frame(real, schema), model_frame(synthetic, schema)
    out = []
    for col in num:
        r, s = a[col].dropna().to_numpy(dtype=float), b[col].dropna().to_numpy(dtype=float)
        if len(r) < 2 or len(s) == 0:
            continue
        lo, hi = np.quantile(r, TAIL_QUANTILES)
        beyond = lambda v: float(np.mean((v < lo) | (v > hi)))  # noqa: E731
        out.append({"column": col, "synthetic_share": beyond(s), "real_share": beyond(r),
                    "low": float(lo), "high": float(hi)})
    return sorted(out, key=lambda t: -t["synthetic_share"])


def strong_pairs(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Schema | Metadata, strong: float) -> list[dict]:
    """Numeric pairs whose real Pearson or Spearman |r| is at least ``strong``, with the real and
    synthetic r of the stronger of the two (a relation carried by a tail, such as gestational age
    and birthweight through the preterm births, shows in Pearson's r and less in Spearman's)."""
    schema = as_schema(meta)
    num, _ = feature_columns(schema)
    a, b = model_frame(real, schema)[num], model_frame(synthetic, schema)[num]
    corr = {m: (a.corr(method=m), b.corr(method=m)) for m in ("pearson", "spearman")}
    out = []
    for i, x in enumerate(num):
        for y in num[i + 1:]:
            best = None
            for method, (ra, rb) in corr.items():
                r = float(ra.loc[x, y])
                if math.isfinite(r) and abs(r) >= strong and (best is None or abs(r) > abs(best[1])):
                    s = float(rb.loc[x, y])
                    best = (method, r, s if math.isfinite(s) else 0.0)  # a constant column keeps no relation
            if best is not None:
                out.append({"columns": [x, y], "method": best[0], "real": best[1], "synthetic": best[2]})
    return out


def analysis_findings(analysis: dict | None, fair_overlap: float) -> tuple[str | None, list[str]]:
    """The declared analysis's status (good, fair, poor; None without effects) and one sentence
    per effect that is not kept: a sign that flips, a significance the real data do not share
    (an invented or a lost effect), a model that failed on the synthetic data, a CI overlap below
    ``fair_overlap``."""
    effects = (analysis or {}).get("effects") or []
    if not effects:
        return None, []
    poor, fair = [], []
    for e in effects:
        name = f"{e['label']} ({e['level']} vs {e['reference']})"
        real, syn = e.get("real") or {}, e.get("synthetic") or {}
        if real.get("status") != "ok":
            continue
        if syn.get("status") != "ok":
            poor.append(f"{name}: {syn.get('message') or 'not estimable on the synthetic data'}")
        elif e.get("sign_agrees") is False:
            shown = ", significant" if (syn.get("p_value") or 1) < 0.05 else ""
            poor.append(f"{name}: the effect's sign flips{shown} ({_effect(syn)} against {_effect(real)} real, "
                        f"{e['scale']})")
        elif e.get("significance_agrees") is False:
            invented = (syn.get("p_value") or 1) < 0.05
            poor.append(f"{name}: {'an effect the real data do not show' if invented else 'a real effect lost'} "
                        f"({_effect(syn)} against {_effect(real)} real, {e['scale']})")
        elif (e.get("ci_overlap") or 0) < fair_overlap:
            fair.append(f"{name}: CI overlap {e.get('ci_overlap', 0):.2f} ({_effect(syn)} against {_effect(real)} real)")
    return ("poor" if poor else "fair" if fair else "good"), poor + fair


def _effect(fit: dict) -> str:
    return f"{fit['estimate']:.3g} [{fit['ci_low']:.3g}, {fit['ci_high']:.3g}]"
