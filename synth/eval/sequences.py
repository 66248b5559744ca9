"""Evaluation of long-format visit data: per-patient features and temporal fidelity.

Works on any pair of long-format frames with the same metadata (``sequence_key`` and
``sequence_index``): synthetic data from other tools included. Nothing here is private output:
run it where the real data may be read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sdmetrics.single_column import KSComplement, TVComplement

from synth.eval.features import category_strings
from synth.schema.columns import ColumnSpec, Schema, as_schema
from synth.schema.metadata import Metadata
from synth.schema.timestamps import epoch_seconds
from synth.schema.sdtypes import is_categorical, is_datetime, is_modelled, is_number

__all__ = ["patient_features", "patient_schema", "patient_metadata", "visit_count_distance", "per_visit_quality",
           "visit_time_quality", "lag1_autocorrelation", "temporal_columns"]


def _static_temporal(schema: Schema, df: pd.DataFrame) -> tuple[list[str], list[str]]:
    modelled = [c.name for c in schema if is_modelled(c.sdtype) and c.name != schema.sequence_index]
    if schema.static is not None:
        static = [c for c in modelled if c in schema.static]
    else:  # any other tool's metadata: a column constant within every patient is static
        grouped = df.groupby(schema.sequence_key)
        static = [c for c in modelled if (grouped[c].nunique(dropna=False) <= 1).all()]
    return static, [c for c in modelled if c not in static]


def temporal_columns(schema: Schema, df: pd.DataFrame) -> list[str]:
    return _static_temporal(schema, df)[1]


def _sorted(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    index = df[schema.sequence_index]
    spec = schema[schema.sequence_index]
    if is_datetime(spec.sdtype):
        index = pd.to_datetime(index, format=spec.datetime_format)
        index = pd.Series(epoch_seconds(index) / 86400, index=df.index)  # days
    return df.assign(__t=pd.to_numeric(index, errors="coerce")).sort_values(
        [schema.sequence_key, "__t"], kind="stable")


def patient_features(df: pd.DataFrame, metadata: Schema | Metadata | dict | str) -> pd.DataFrame:
    """One row per patient: static columns, visit count, and first/last/mean/slope per numeric
    temporal column (slope per day of the sequence index; NaN with fewer than two values);
    first/last value per categorical temporal column. ``metadata``: the columns resolved (a
    Schema), or metadata to resolve."""
    schema = as_schema(metadata)
    key = schema.sequence_key
    static, temporal = _static_temporal(schema, df)
    d = _sorted(df, schema)
    g = d.groupby(key, sort=True)
    out = g[static].first() if static else pd.DataFrame(index=g.size().index)
    out["n_visits"] = g.size()
    for c in temporal:
        if is_number(schema[c].sdtype):
            x = pd.to_numeric(d[c], errors="coerce")
            gx = x.groupby(d[key], sort=True)
            out[f"{c}_first"], out[f"{c}_last"], out[f"{c}_mean"] = gx.first(), gx.last(), gx.mean()
            out[f"{c}_slope"] = _slopes(d[key], d["__t"], x)
        else:
            gc = d[c].astype(object).groupby(d[key], sort=True)
            out[f"{c}_first"], out[f"{c}_last"] = gc.first(), gc.last()
    return out.reset_index(drop=True)


def _slopes(keys: pd.Series, t: pd.Series, x: pd.Series) -> pd.Series:
    ok = x.notna() & t.notna()
    frame = pd.DataFrame({"k": keys[ok], "t": t[ok], "x": x[ok]})
    frame["tc"] = frame["t"] - frame.groupby("k")["t"].transform("mean")
    frame["xc"] = frame["x"] - frame.groupby("k")["x"].transform("mean")
    sums = frame.assign(num=frame["tc"] * frame["xc"], den=frame["tc"] ** 2).groupby("k")[["num", "den"]].sum()
    slope = sums["num"] / sums["den"].where(sums["den"] > 0)
    return slope.reindex(keys.drop_duplicates().sort_values().to_numpy())


def patient_schema(df_features: pd.DataFrame, metadata: Schema | Metadata | dict | str) -> Schema:
    """The columns of :func:`patient_features`: categorical where the visit column they come from
    is (its first or last value), numerical otherwise (means, slopes, the visit count, numbers)."""
    schema = as_schema(metadata)
    specs = []
    for c in df_features.columns:
        base = c.rsplit("_", 1)[0] if c not in schema else c
        categorical = (base in schema and c != "n_visits" and not c.endswith(("_mean", "_slope"))
                       and is_categorical(schema[base].sdtype))
        specs.append(ColumnSpec(c, "categorical" if categorical else "numerical"))
    return Schema(tuple(specs))


def patient_metadata(df_features: pd.DataFrame, metadata: Schema | Metadata | dict | str) -> Metadata:
    """Metadata for :func:`patient_features`' columns (numerical or categorical): :func:`patient_schema`
    as a metadata file would say it."""
    return Metadata(columns={c.name: {"sdtype": c.sdtype} for c in patient_schema(df_features, metadata)},
                    table_name="patients")


def visit_count_distance(real: pd.DataFrame, synthetic: pd.DataFrame, key: str) -> float:
    """Total variation distance between the visits-per-patient distributions (0 = identical)."""
    a = real.groupby(key).size().value_counts(normalize=True)
    b = synthetic.groupby(key).size().value_counts(normalize=True)
    both = a.index.union(b.index)
    return float(0.5 * (a.reindex(both, fill_value=0) - b.reindex(both, fill_value=0)).abs().sum())


def per_visit_quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Schema | Metadata | dict | str,
                      min_patients: int = 10) -> dict[str, float]:
    """Column-shape score (KS/TV complement) of each temporal column at each visit number,
    averaged over visit numbers held by at least ``min_patients`` real patients (weighted by
    them). Missing values are a category of their own ("missing" rate compared too)."""
    schema = as_schema(metadata)
    columns = [(c, schema[c].sdtype) for c in temporal_columns(schema, real)]
    score, by_visit = _per_visit(real, synthetic, schema, columns, min_patients)
    return {"per_visit_quality": score, "by_visit": by_visit}


def visit_time_quality(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: Schema | Metadata | dict | str,
                       min_patients: int = 10) -> dict[str, float]:
    """KS complement of the visit time (``sequence_index``, datetimes in days) at each visit
    number, weighted as :func:`per_visit_quality`: 1 when the k-th visits fall at the same
    times, 0 when every synthetic k-th visit is later (or earlier) than every real one."""
    score, by_visit = _per_visit(real, synthetic, as_schema(metadata), [("__t", None)], min_patients,
                                 lambda r, s, _: float(KSComplement.compute(r.dropna(), s.dropna())))
    return {"visit_time_quality": score, "visit_time_by_visit": by_visit}


def _per_visit(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, columns: list[tuple[str, str | None]],
               min_patients: int, shape: Callable[[pd.Series, pd.Series, str | None], float] | None = None
               ) -> tuple[float, dict[int, float]]:
    """Mean of ``shape`` (default: KS/TV complement with the missing rate) over ``columns`` at
    each visit number held by at least ``min_patients`` real patients, weighted by them."""
    shape = shape or _shape
    r, s = (_sorted(d, schema) for d in (real, synthetic))
    r["__k"], s["__k"] = r.groupby(schema.sequence_key).cumcount(), s.groupby(schema.sequence_key).cumcount()
    scores, weights, by_visit = [], [], {}
    for k, rk in r.groupby("__k"):
        sk = s[s["__k"] == k]
        if len(rk) < min_patients or len(sk) == 0 or not columns:
            continue
        by_visit[int(k) + 1] = float(np.mean([shape(rk[c], sk[c], sdtype) for c, sdtype in columns]))
        scores.append(by_visit[int(k) + 1])
        weights.append(len(rk))
    return (float(np.average(scores, weights=weights)) if scores else float("nan")), by_visit


def _shape(real: pd.Series, syn: pd.Series, sdtype: str | None) -> float:
    miss = 1 - abs(real.isna().mean() - syn.isna().mean())
    r, s = real.dropna(), syn.dropna()
    if len(r) == 0 or len(s) == 0:
        return float(miss)
    if is_number(sdtype):
        shape = KSComplement.compute(pd.to_numeric(r), pd.to_numeric(s))
    else:
        shape = TVComplement.compute(category_strings(r), category_strings(s))
    return float((shape + miss) / 2)


def lag1_autocorrelation(df: pd.DataFrame, metadata: Schema | Metadata | dict | str) -> dict[str, float]:
    """Pearson correlation between consecutive visits' values of each numeric temporal column."""
    schema = as_schema(metadata)
    d = _sorted(df, schema)
    out = {}
    for c in temporal_columns(schema, df):
        if not is_number(schema[c].sdtype):
            continue
        x = pd.to_numeric(d[c], errors="coerce")
        nxt = x.groupby(d[schema.sequence_key]).shift(-1)
        ok = x.notna() & nxt.notna()
        out[c] = float(np.corrcoef(x[ok], nxt[ok])[0, 1]) if ok.sum() > 2 else float("nan")
    return out
