"""``evaluate``: fidelity, downstream generalization, the trial analysis, temporal fidelity and privacy
risk, one report.

Works on any real/synthetic pair described by SDV-style metadata, tables and long-format visit
sequences alike (for sequences, models and distances use one row of per-patient features).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.eval import plots
from synth.eval.analysis import analysis_fidelity, declaration
from synth.eval.fidelity import correlation_agreement, correlation_matrix, detection, sdmetrics_reports
from synth.eval.privacy_risk import privacy_risk
from synth.eval.report import EvaluationReport
from synth.eval.sequences import (lag1_autocorrelation, patient_features, patient_metadata, per_visit_quality,
                                  temporal_columns, visit_count_distance, visit_time_quality)
from synth.eval.utility import downstream
from synth.eval.verdict import verdict
from synth.schema.metadata import Metadata
from synth.eval.features import feature_columns
from synth.schema.validate import check_columns, coerce_frame
from synth.schema.sdtypes import is_categorical

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


def _check(meta: Metadata, frames: dict[str, pd.DataFrame | None], target: str | None) -> list[str]:
    warnings = []
    key = meta.sequence_key
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
    if target not in meta.columns:
        raise SynthError(f"target column '{target}' is not in the metadata")
    if not meta.sequence_key and not any(feature_columns(meta, (target,))):
        raise SynthError(f"target column '{target}': the metadata has no column besides '{target}' to predict it "
                         "from")
    if not is_categorical(meta.sdtype(target)):
        raise SynthError(f"target column '{target}' is {meta.sdtype(target)}; it must be categorical or boolean")
    if frames["real"][target].nunique() < 2:
        raise SynthError(f"target column '{target}' is constant in the real data; nothing to predict")
    hold = frames.get("holdout")
    if hold is not None and hold[target].nunique() < 2:
        warnings.append(f"the holdout has one value of '{target}': AUROC is undefined, only accuracy is shown")
    if frames["synthetic"][target].nunique() < 2:
        warnings.append(f"the synthetic data has one value of '{target}': models trained on it cannot rank")
    return warnings


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
    key = meta.sequence_key
    decl = declaration(meta, arm, outcomes, covariates)
    warnings = _check(meta, {"real": real, "synthetic": synthetic, "holdout": holdout}, target)
    setup = {"real_rows": len(real), "synthetic_rows": len(synthetic), "target": target, "seed": seed,
             "sequences": key is not None, "analysis": None if decl is None else decl.to_dict()}
    train = real
    if holdout is None:
        train, holdout = _split(real, key, seed)
        setup["holdout"] = f"none given: {len(holdout)} real rows split off by patient (seed {seed})"
        warnings.append("no holdout was given: 20% of the real patients were split off. If the synthetic data "
                        "was trained on them, TSTR and the privacy figures are optimistic.")
    else:
        setup["holdout"] = f"given: {len(holdout)} rows"
    step = iter(range(1, len(STEPS) + 1))

    def tick(name: str) -> None:
        if progress is not None:
            progress(name, next(step), len(STEPS))

    res: dict = {"setup": setup, "warnings": warnings}
    figs: dict = {}
    tick(STEPS[0])
    res["fidelity"] = sdmetrics_reports(real, synthetic, meta)
    if math.isnan(res["fidelity"]["column_pair_trends"]):
        warnings.append("column pair trends are undefined: no pair of real columns passed SDMetrics' checks")
    # models and distances: one row per patient for sequences
    if key:
        ft, fs, fh = (patient_features(d, meta) for d in (train, synthetic, holdout))
        fmeta = patient_metadata(ft, meta)
    else:
        ft, fs, fh, fmeta = train, synthetic, holdout, meta
    tick(STEPS[1])
    res["fidelity"]["detection_auroc"] = detection(patient_features(real, meta) if key else real, fs, fmeta, seed)
    tick(STEPS[2])
    res["fidelity"]["correlation_agreement"] = correlation_agreement(ft, fs, fmeta)
    tick(STEPS[3])
    if target is not None:
        res["utility"] = downstream(ft, fs, fh, fmeta, target, seed)
    tick(STEPS[4])
    if key:
        res["sequences"] = {"visit_count_tvd": visit_count_distance(real, synthetic, key),
                            **per_visit_quality(real, synthetic, meta),
                            **visit_time_quality(real, synthetic, meta),
                            "lag1_real": lag1_autocorrelation(real, meta),
                            "lag1_synthetic": lag1_autocorrelation(synthetic, meta)}
    tick(STEPS[5])
    if decl is not None:
        source = "metadata" if decl == meta.analysis else "options"
        res["analysis"] = analysis_fidelity(real, synthetic, meta, decl, source)
        warnings.extend(f"analysis: {problem}" for problem in res["analysis"]["problems"])
    tick(STEPS[6])
    risk = privacy_risk(ft, fs, fh, fmeta, seed=seed, return_distances=True)
    distances = risk.pop("distances")
    res["privacy_risk"] = risk
    res["formal_privacy"] = ({k: privacy.get(k) for k in ("guarantee", "epsilon", "delta", "ledger")}
                             if privacy else None)
    res["verdict"] = verdict(res, meta, real, synthetic, ft, fs, fmeta)  # the report's first section
    tick(STEPS[7])
    figs["distributions"] = plots.distributions(real, synthetic, meta, [
        c for c in meta.columns if meta.sdtype(c) in ("numerical", "categorical", "boolean")],
        res["fidelity"]["per_column"])
    figs["correlations"] = plots.correlation_heatmaps(correlation_matrix(ft, fmeta), correlation_matrix(fs, fmeta))
    if target is not None:
        figs["utility"] = plots.utility_bars(res["utility"]["models"])
    if decl is not None:
        figs["analysis"] = plots.forest_plot(res["analysis"]["effects"])
    figs["privacy"] = plots.dcr_histogram(distances["synthetic"], distances["holdout"])
    if key:
        figs["visit_counts"] = plots.visit_counts(real, synthetic, key)
        numeric = [c for c in temporal_columns(meta, real) if meta.sdtype(c) == "numerical"]
        if numeric:  # visits with no numerical temporal column have no trajectory to draw
            figs["trajectories"] = plots.trajectories(real, synthetic, meta, numeric, seed=seed)
    return EvaluationReport(res, figs)
