"""``evaluate``: fidelity, downstream generalization, the trial analysis, temporal fidelity and privacy
risk, one report.

Works on any real/synthetic pair described by SDV-style metadata, tables and long-format visit
sequences alike (for sequences, models and distances use one row of per-patient features). The
metadata is read once, at :func:`evaluate`: it checks and types the frames, gives SDMetrics its
SDV form and states the declared analysis and inequalities; every figure reads the columns as
resolved (:func:`synth.schema.columns.resolve_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.eval import plots
from synth.eval.analysis import analysis_fidelity, declaration
from synth.eval.fidelity import correlation_agreement, correlation_matrix, detection, sdmetrics_reports
from synth.eval.privacy_risk import privacy_risk
from synth.eval.report import EvaluationReport
from synth.eval.sequences import (lag1_autocorrelation, patient_features, patient_schema, per_visit_quality,
                                  temporal_columns, visit_count_distance, visit_time_quality)
from synth.eval.utility import downstream
from synth.eval.verdict import verdict
from synth.schema.analysis import AnalysisDeclaration
from synth.schema.columns import Schema, resolve_columns
from synth.schema.metadata import Metadata
from synth.eval.features import feature_columns
from synth.schema.validate import check_columns, coerce_frame
from synth.schema.sdtypes import is_categorical, is_number

__all__ = ["evaluate"]

MIN_ROWS = 10
STEPS = ["sdmetrics reports", "detection", "correlations", "downstream models", "sequences", "analysis",
         "privacy risk", "plots"]


def _split(df: pd.DataFrame, key: str | None, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = df[key].unique() if key else np.arange(len(df))
    rng = np.random.default_rng(seed)
    test = set(rng.choice(ids, size=max(1, len(ids) // 5), replace=False).tolist())
    mask = df[key].isin(test).to_numpy() if key else np.isin(np.arange(len(df)), list(test))
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def _check(meta: Metadata, schema: Schema, frames: dict[str, pd.DataFrame | None], target: str | None) -> list[str]:
    warnings = []
    key = schema.sequence_key
    for name, df in frames.items():
        if df is None:
            continue
        check_columns(df.rename(columns=str), meta, f"the {name} data")
        if len(df):
            coerce_frame(df, meta, f"the {name} data")  # numbers, dates and booleans as the metadata says
        units = df[key].nunique() if key else len(df)
        if units < MIN_ROWS:
            raise SynthError(f"the {name} data has fewer than {MIN_ROWS} {'patients' if key else 'rows'}; "
                             f"at least {MIN_ROWS} are needed for an evaluation")
    if target is None:
        return warnings
    if target not in schema:
        raise SynthError(f"target column '{target}' is not in the metadata")
    if not key and not any(feature_columns(schema, (target,))):
        raise SynthError(f"target column '{target}': the metadata has no column besides '{target}' to predict it "
                         "from")
    if not is_categorical(schema[target].sdtype):
        raise SynthError(f"target column '{target}' is {schema[target].sdtype}; it must be categorical or boolean")
    if frames["real"][target].nunique() < 2:
        raise SynthError(f"target column '{target}' is constant in the real data; nothing to predict")
    hold = frames.get("holdout")
    if hold is not None and hold[target].nunique() < 2:
        warnings.append(f"the holdout has one value of '{target}': AUROC is undefined, only accuracy is shown")
    if frames["synthetic"][target].nunique() < 2:
        warnings.append(f"the synthetic data has one value of '{target}': models trained on it cannot rank")
    return warnings


@dataclass(frozen=True)
class _Frames:
    """The data one evaluation reads: the real and synthetic rows, the real rows the models train on
    and the holdout, and what the models and distances see (``features``: train, synthetic,
    holdout; one row per patient for visits) with their columns (``feature_schema``)."""

    real: pd.DataFrame
    synthetic: pd.DataFrame
    train: pd.DataFrame
    holdout: pd.DataFrame
    features: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
    feature_schema: Schema


def _frames(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None, schema: Schema,
            seed: int, setup: dict, warnings: list[str]) -> _Frames:
    """Split off a holdout when none is given (saying so in ``setup`` and ``warnings``) and build
    the per-patient features of visits."""
    key = schema.sequence_key
    train = real
    if holdout is None:
        train, holdout = _split(real, key, seed)
        setup["holdout"] = f"none given: {len(holdout)} real rows split off by patient (seed {seed})"
        warnings.append("no holdout was given: 20% of the real patients were split off. If the synthetic data "
                        "was trained on them, TSTR and the privacy figures are optimistic.")
    else:
        setup["holdout"] = f"given: {len(holdout)} rows"
    if key:
        features = tuple(patient_features(d, schema) for d in (train, synthetic, holdout))
        return _Frames(real, synthetic, train, holdout, features, patient_schema(features[0], schema))
    return _Frames(real, synthetic, train, holdout, (train, synthetic, holdout), schema)


def _measure(res: dict, f: _Frames, meta: Metadata, schema: Schema, decl: AnalysisDeclaration | None,
             target: str | None, seed: int, tick: Callable[[str], None]) -> dict[str, np.ndarray]:
    """Fill ``res`` with every figure, in the order of ``STEPS`` up to the privacy risk; return the
    distances to the closest record (for the figure)."""
    key, warnings = schema.sequence_key, res["warnings"]
    (ft, fs, fh), fschema = f.features, f.feature_schema
    tick(STEPS[0])
    res["fidelity"] = sdmetrics_reports(f.real, f.synthetic, meta)
    if math.isnan(res["fidelity"]["column_pair_trends"]):
        warnings.append("column pair trends are undefined: no pair of real columns passed SDMetrics' checks")
    tick(STEPS[1])
    res["fidelity"]["detection_auroc"] = detection(patient_features(f.real, schema) if key else f.real, fs, fschema,
                                                   seed)
    tick(STEPS[2])
    res["fidelity"]["correlation_agreement"] = correlation_agreement(ft, fs, fschema)
    tick(STEPS[3])
    if target is not None:
        res["utility"] = downstream(ft, fs, fh, fschema, target, seed)
    tick(STEPS[4])
    if key:
        res["sequences"] = {"visit_count_tvd": visit_count_distance(f.real, f.synthetic, key),
                            **per_visit_quality(f.real, f.synthetic, schema),
                            **visit_time_quality(f.real, f.synthetic, schema),
                            "lag1_real": lag1_autocorrelation(f.real, schema),
                            "lag1_synthetic": lag1_autocorrelation(f.synthetic, schema)}
    tick(STEPS[5])
    if decl is not None:
        source = "metadata" if decl == meta.analysis else "options"
        res["analysis"] = analysis_fidelity(f.real, f.synthetic, meta, decl, source, schema)
        warnings.extend(f"analysis: {problem}" for problem in res["analysis"]["problems"])
    tick(STEPS[6])
    risk = privacy_risk(ft, fs, fh, fschema, seed=seed, return_distances=True)
    distances = risk.pop("distances")
    res["privacy_risk"] = risk
    return distances


def _figures(res: dict, f: _Frames, schema: Schema, distances: dict[str, np.ndarray], seed: int) -> dict:
    """The report's figures, from the figures in ``res``."""
    (ft, fs, _), fschema = f.features, f.feature_schema
    figs: dict = {}
    figs["distributions"] = plots.distributions(f.real, f.synthetic, schema, [
        c.name for c in schema if is_number(c.sdtype) or is_categorical(c.sdtype)], res["fidelity"]["per_column"])
    figs["correlations"] = plots.correlation_heatmaps(correlation_matrix(ft, fschema), correlation_matrix(fs, fschema))
    if res.get("utility") is not None:
        figs["utility"] = plots.utility_bars(res["utility"]["models"])
    if res.get("analysis") is not None:
        figs["analysis"] = plots.forest_plot(res["analysis"]["effects"])
    figs["privacy"] = plots.dcr_histogram(distances["synthetic"], distances["holdout"])
    key = schema.sequence_key
    if key:
        figs["visit_counts"] = plots.visit_counts(f.real, f.synthetic, key)
        numeric = [c for c in temporal_columns(schema, f.real) if is_number(schema[c].sdtype)]
        if numeric:  # visits with no numerical temporal column have no trajectory to draw
            figs["trajectories"] = plots.trajectories(f.real, f.synthetic, schema, numeric, seed=seed)
    return figs


def evaluate(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Metadata | dict | str,
             target: str | None = None, holdout: pd.DataFrame | None = None, seed: int = 0,
             privacy: dict | None = None, progress: Callable[[str, int, int], None] | None = None,
             arm: str | None = None, outcomes: Sequence[str] | None = None,
             covariates: Sequence[str] | None = None) -> EvaluationReport:
    """Compare ``synthetic`` with ``real`` (the data it was trained on); see the module doc.

    ``holdout``: real patients the generator never saw (for TSTR/TRTR and the privacy figures);
    without it, 20% of the real patients are split off and the report says so. ``privacy``: the
    ``.privacy.json`` sidecar of the synthetic CSV, shown next to the empirical figures.
    ``arm``, ``outcomes``, ``covariates``: the analysis whose arm effects are compared
    (:mod:`synth.eval.analysis`); given, they replace the metadata's ``synth_analysis``, which is
    used otherwise. Without either, the report has no analysis section.
    """
    meta = Metadata.load(metadata)
    schema = resolve_columns(meta)  # the columns, read once for every figure below
    decl = declaration(meta, arm, outcomes, covariates, schema)
    warnings = _check(meta, schema, {"real": real, "synthetic": synthetic, "holdout": holdout}, target)
    setup = {"real_rows": len(real), "synthetic_rows": len(synthetic), "target": target, "seed": seed,
             "sequences": schema.sequence_key is not None, "analysis": None if decl is None else decl.to_dict()}
    frames = _frames(real, synthetic, holdout, schema, seed, setup, warnings)
    step = iter(range(1, len(STEPS) + 1))

    def tick(name: str) -> None:
        if progress is not None:
            progress(name, next(step), len(STEPS))

    res: dict = {"setup": setup, "warnings": warnings}
    distances = _measure(res, frames, meta, schema, decl, target, seed, tick)
    res["formal_privacy"] = ({k: privacy.get(k) for k in ("guarantee", "epsilon", "delta", "ledger")}
                             if privacy else None)
    res["verdict"] = verdict(res, meta, real, synthetic, *frames.features[:2], frames.feature_schema)
    tick(STEPS[7])  # the verdict is the report's first section; the figures come last
    return EvaluationReport(res, _figures(res, frames, schema, distances, seed))
