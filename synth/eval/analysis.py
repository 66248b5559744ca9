"""Analysis fidelity: does the synthetic data give the trial's own treatment effect?

For the declared analysis (the metadata's ``synth_analysis``, or ``arm=``/``outcomes=`` given to
:func:`synth.eval.evaluate`), the same model is fitted on the real and on the synthetic rows
(:mod:`synth.eval.effects`): the arm's effect on each outcome with its 95% CI and p-value, then

- **CI overlap** (Karr, Kohnen, Oganian, Reiter & Sanil 2006, "A framework for evaluating the
  utility of data altered to protect confidentiality", The American Statistician 60(3)):
  J = ½[(min(U_r, U_s) − max(L_r, L_s)) / (U_r − L_r) + (min(U_r, U_s) − max(L_r, L_s)) / (U_s − L_s)],
  1 for identical intervals, ≤ 0 for disjoint ones;
- the **standardized difference** |β_s − β_r| / SE_r;
- **sign agreement**: both estimates on the same side of 0;
- **significance agreement**: both p < 0.05 with the same sign, or both p ≥ 0.05.

Sign agreement needs both estimates (a separated fit's sign counts); the other three need both
fits ``"ok"``. A multi-level arm gives one effect per non-reference level, each against the
reference (the arm's first ``range_values`` entry; without range_values, the first of the real
data's values in sorted order). Categorical covariates enter as indicators of each level but the
first (same rule), numerical ones linearly. Rows with a missing value in a model's columns (or an
arm or category outside the metadata's values) are left out of that model, and the report counts
them. Visit sequences are analysed one row per patient (the declared columns are static).

Privacy assumption: this reads the real rows, like the rest of the report (for the data holder only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.eval.effects import MODELS, fit_effects
from synth.schema.analysis import AnalysisDeclaration
from synth.schema.columns import ColumnSpec, Schema, resolve_columns
from synth.schema.metadata import Metadata
from synth.schema.validate import _suggest, category_key, coerce_frame
from synth.schema.sdtypes import is_boolean, is_categorical, is_number

__all__ = ["analysis_fidelity", "ci_overlap", "declaration", "ALPHA"]

ALPHA = 0.05


def ci_overlap(real: tuple[float, float], synthetic: tuple[float, float]) -> float:
    """Karr et al. (2006)'s CI overlap of two intervals (lower, upper): NaN if either has no width."""
    (lr, ur), (ls, us) = real, synthetic
    if not (ur > lr and us > ls):
        return math.nan
    inner = min(ur, us) - max(lr, ls)
    return 0.5 * (inner / (ur - lr) + inner / (us - ls))


def declaration(meta: Metadata, arm: str | None = None, outcomes: Sequence[str] | None = None,
                covariates: Sequence[str] | None = None, schema: Schema | None = None) -> AnalysisDeclaration | None:
    """The analysis to evaluate: the options when any is given (they replace the metadata's
    declaration as a whole), else the metadata's ``synth_analysis``, else None. ``schema``: ``meta``'s
    columns resolved (:func:`synth.schema.columns.resolve_columns`; else here)."""
    outcomes, covariates = list(outcomes or []), list(covariates or [])
    if arm is None and not outcomes and not covariates:
        return meta.analysis
    if arm is None:
        raise SynthError("--arm: give the arm column with --outcome/--covariate (they replace the metadata's "
                         "synth_analysis)")
    if not outcomes:
        raise SynthError("--outcome: give at least one outcome column with --arm")
    schema = resolve_columns(meta) if schema is None else schema
    static = list(schema.static or []) if schema.sequence_key else None
    for option, cols in (("--arm", [arm]), ("--outcome", outcomes), ("--covariate", covariates)):
        for col in cols:
            if col not in schema:
                raise SynthError(f"{option}: column '{col}' is not in the metadata{_suggest(col, schema.names)}")
            if static is not None and col not in static:
                raise SynthError(f"{option}: column '{col}' must be a static column (in synth_sequence."
                                 "static_columns): the analysis has one row per patient")
    if not is_categorical(schema[arm].sdtype):
        raise SynthError(f"--arm: column '{arm}' is {schema[arm].sdtype}; the arm must be categorical or boolean")
    for col in outcomes:
        if not _analysable(schema[col]):
            raise SynthError(f"--outcome: column '{col}' is {schema[col].sdtype}; an outcome must be numerical, "
                             "boolean or binary categorical")
    for col in covariates:
        if not _analysable(schema[col]):
            raise SynthError(f"--covariate: column '{col}' is {schema[col].sdtype}; a covariate must be numerical, "
                             "categorical or boolean")
    named = [arm, *outcomes, *covariates]
    twice = next((c for c in named if named.count(c) > 1), None)
    if twice is not None:
        raise SynthError(f"--outcome/--covariate: column '{twice}' is named twice; the arm, the outcomes and the "
                         "covariates are different columns")
    return AnalysisDeclaration(arm, tuple(outcomes), tuple(covariates))


def _analysable(spec: ColumnSpec) -> bool:
    """Numbers or categories (not dates, ids or pii): what a model of the arm's effect can take."""
    return is_number(spec.sdtype) or is_categorical(spec.sdtype)


def _levels(spec: ColumnSpec, listed: list | None, real: pd.Series) -> list[str]:
    """A categorical column's levels in order: its range_values as ``listed`` (public or not: the
    evaluation is for the data holder), else its values by type (a boolean's), else the real
    data's, sorted."""
    values = listed or spec.values
    if values:
        return list(dict.fromkeys(category_key(v) for v in values))
    seen = [v for v in real.dropna().unique()]
    try:
        return sorted(seen, key=float)
    except (TypeError, ValueError):
        return sorted(seen, key=str)


def _per_patient(df: pd.DataFrame, meta: Metadata, key: str | None, source: str) -> pd.DataFrame:
    frame = coerce_frame(df, meta, source)
    if key:  # the declared columns are static: a patient's first row holds them
        frame = frame[~df[key].duplicated().to_numpy()]
    return frame.reset_index(drop=True)


def analysis_fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, meta: Metadata,
                      decl: AnalysisDeclaration, source: str = "metadata", schema: Schema | None = None
                      ) -> dict[str, Any]:
    """Every declared arm effect on real and synthetic data and how well they agree (module doc).

    Returns the report's ``analysis`` block: the arm, its reference and levels, the covariates,
    ``effects`` (one row per outcome and non-reference level), the headline means, ``problems``
    (fits that failed or separated) and ``notes`` (rows left out). ``meta`` types the rows
    (:func:`synth.schema.validate.coerce_frame`); ``schema``: its columns resolved (else here).
    """
    schema = resolve_columns(meta) if schema is None else schema
    frames = {"real": _per_patient(real, meta, schema.sequence_key, "the real data"),
              "synthetic": _per_patient(synthetic, meta, schema.sequence_key, "the synthetic data")}
    levels = {c: _levels(schema[c], meta.listed_values(c), frames["real"][c]) for c in decl.columns()
              if is_categorical(schema[c].sdtype)}
    arm_levels = levels[decl.arm]
    if len(arm_levels) < 2:
        raise SynthError(f"--arm: column '{decl.arm}' has one value ({arm_levels}); the arm needs two or more")
    for col in decl.outcomes:
        if col in levels and len(levels[col]) != 2:
            raise SynthError(f"--outcome: column '{col}' has {len(levels[col])} values; a categorical outcome must "
                             "be binary (2 values)")
    positive = {c: ("True" if is_boolean(schema[c].sdtype) else lv[1]) for c, lv in levels.items() if len(lv) == 2}
    models = [(c, None, "numerical" if is_number(schema[c].sdtype) else "binary") for c in decl.outcomes]
    models += [(p.time, p.event, "time_to_event") for p in decl.time_to_event]
    effects, notes, problems, dropped = [], [], [], {}
    for outcome, event, kind in models:
        sides: dict[str, dict] = {}
        for name, frame in frames.items():
            y, ev, X, arm_cols, lost = _model_data(frame, decl, outcome, event, levels, positive)
            dropped[(outcome, name)] = lost
            sides[name] = fit_effects(kind, y, X, arm_cols, ev, f"the {name} data")
            for side in sides[name].values():
                side["left_out"] = lost
        model, scale = MODELS[kind]
        label = f"{outcome} → {event}" if event else outcome
        for lv in arm_levels[1:]:
            r, s = sides["real"][lv], sides["synthetic"][lv]
            row = {"outcome": outcome, "event": event, "label": label, "kind": kind, "model": model,
                   "scale": scale, "level": lv, "reference": arm_levels[0], "real": r, "synthetic": s,
                   **_compare(r, s)}
            effects.append(row)
            for name, side in (("real", r), ("synthetic", s)):
                if side["status"] != "ok":
                    problems.append(f"{label} ({lv} vs {arm_levels[0]}): {side['message']}")
    for (outcome, name), lost in dropped.items():
        if lost:
            notes.append(f"{lost} {name} row(s) with a missing value in the columns of the model of '{outcome}' "
                         "(or a value outside the metadata's) were left out of it")

    def share(key: str) -> float | None:
        vals = [e[key] for e in effects if e[key] is not None]
        return float(np.mean(vals)) if vals else None

    overlaps = [e["ci_overlap"] for e in effects if e["ci_overlap"] is not None and math.isfinite(e["ci_overlap"])]
    return {"source": source, "arm": decl.arm, "reference": arm_levels[0], "levels": arm_levels,
            "covariates": list(decl.covariates),
            "encoding": "categorical covariates: one indicator per level but the first; numerical ones linear",
            "effects": effects, "sign_agreement": share("sign_agrees"),
            "significance_agreement": share("significance_agrees"),
            "mean_ci_overlap": float(np.mean(overlaps)) if overlaps else None,
            "mean_standardized_difference": share("standardized_difference"), "problems": problems,
            "notes": notes}


def _model_data(frame: pd.DataFrame, decl: AnalysisDeclaration, outcome: str, event: str | None,
                levels: dict[str, list[str]], positive: dict[str, str]):
    """(y, event, X, arm dummies by level, rows left out) for one model on one data set."""
    cols = list(dict.fromkeys([decl.arm, outcome, *([event] if event else []), *decl.covariates]))
    data = frame[cols].copy()
    for c in cols:
        if c in levels:  # a value outside the known levels counts as missing
            data[c] = data[c].where(data[c].isin(levels[c]))
    complete = data.dropna().reset_index(drop=True)
    lost = len(data) - len(complete)
    parts, arm_cols = {}, {}
    for lv in levels[decl.arm][1:]:
        arm_cols[lv] = name = f"{decl.arm}={lv}"
        parts[name] = (complete[decl.arm] == lv).astype(float)
    for c in decl.covariates:
        if c in levels:
            for lv in levels[c][1:]:
                parts[f"{c}={lv}"] = (complete[c] == lv).astype(float)
        else:
            parts[c] = complete[c].astype(float)
    X = pd.DataFrame(parts, index=complete.index)
    y = (complete[outcome] == positive[outcome]).astype(float) if outcome in levels else complete[outcome].astype(float)
    ev = (complete[event] == positive[event]).astype(float) if event else None
    return y, ev, X, arm_cols, lost


def _compare(r: dict, s: dict) -> dict[str, Any]:
    """CI overlap, standardized difference, sign and significance agreement of two fits (module doc)."""
    out: dict[str, Any] = {"ci_overlap": None, "standardized_difference": None, "sign_agrees": None,
                           "significance_agrees": None}
    if r["status"] == "failed" or s["status"] == "failed":
        return out
    out["sign_agrees"] = bool(np.sign(r["estimate"]) == np.sign(s["estimate"]))
    if r["status"] != "ok" or s["status"] != "ok":
        return out
    overlap = ci_overlap((r["ci_low"], r["ci_high"]), (s["ci_low"], s["ci_high"]))
    out["ci_overlap"] = None if math.isnan(overlap) else overlap
    out["standardized_difference"] = abs(s["estimate"] - r["estimate"]) / r["se"] if r["se"] > 0 else None
    sig_r, sig_s = r["p_value"] < ALPHA, s["p_value"] < ALPHA
    out["significance_agrees"] = bool((sig_r and sig_s and out["sign_agrees"]) or (not sig_r and not sig_s))
    return out
