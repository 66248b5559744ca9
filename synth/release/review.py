"""``synth metadata review``: what each column of a metadata file costs, and what to drop or coarsen.

For each column: its sdtype, whether its domain is public (given in the metadata) or will be
estimated under DP, what that estimate costs at the given ε, and suggestions read off the data
(free text, ids, near-unique or many categories, mostly missing). The costs follow the ledger a
fit would build (:mod:`synth.privacy.domain`: the estimates share 10% of ε; the tables, one per
modelled column, share most of the rest), for the number of patients rounded to one significant
digit unless the metadata states it (``synth_patients``).

Privacy: the data holder runs this on their own data, and its output may be shared like any
message: it names columns and the metadata's public facts, and says "mostly missing" or "many
categories", never a value or an exact count of the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pandas as pd

from synth.encode.table import NUMERIC_BINS
from synth.errors import SynthError
from synth.privacy.domain import PREP_SHARE, THRESHOLD_DELTA_SHARE, default_delta
from synth.privacy.ledger import Ledger, Mechanism, calibrate_sigma
from synth.privacy.marginals import MARGINAL_SHARE, ledger_sigma
from synth.privacy.mechanisms import BOUNDS_GRID, BOUNDS_RELEASES
from synth.release.pair_tables import LABEL_PART
from synth.privacy.resolution import MIN_SIGNAL
from synth.schema.columns import ColumnSpec, Schema, resolve_columns
from synth.schema.infer import is_row_number, looks_like_free_text
from synth.schema.metadata import Metadata
from synth.schema.validate import check_columns, coerce_frame
from synth.schema.timestamps import epoch_seconds
from synth.schema.sdtypes import is_boolean, is_categorical, is_datetime, is_id, is_modelled, is_pii

__all__ = ["ColumnReview", "Review", "review_metadata", "Costs", "costs"]

MOSTLY_MISSING = 0.5  # share of rows missing above which a column is "mostly missing"
MANY_CATEGORIES = 20  # distinct values above which a categorical column has "many categories"
_EMPTY_BIN_KEEP = 0.01  # as synth.privacy.mechanisms: chance that some empty bin's noise survives


@dataclass
class ColumnReview:
    column: str
    sdtype: str
    domain: str  # "public", "DP estimate", "-" (not modelled), "exact (ε = inf)"
    cost: str
    todo: list[str] = field(default_factory=list)
    drop: bool = False  # suggested to drop or coarsen


@dataclass
class Review:
    columns: list[ColumnReview]
    summary: list[str]

    @property
    def suggested(self) -> list[str]:
        return [c.column for c in self.columns if c.drop]


@dataclass
class Costs:
    """What a fit would spend, from the schema, ε and a public or rounded N (never the data)."""

    sigma_domain: float  # noise of each domain estimate
    category: float  # patients a category needs to clear the release threshold
    interval: float  # patients a 1-2-5 interval needs for its histogram bin to count
    sigma_table: float  # noise per cell of each modelled column's table
    carried: int  # modelled columns whose 10-bin table stays at full resolution at this N


def _ledger(epsilon: float, n: int, releases: int, n_cats: int) -> tuple[Ledger, float]:
    ledger = Ledger(epsilon, default_delta(n), n)
    ledger.delta_threshold = THRESHOLD_DELTA_SHARE * ledger.delta if n_cats else 0.0
    sigma = 0.0
    if releases:
        sigma = calibrate_sigma(PREP_SHARE * epsilon, PREP_SHARE * ledger.accountant_delta, 1.0, releases)
        ledger.add(Mechanism("domains", sigma, 1.0, releases, "estimates"))
    return ledger, sigma


def costs(epsilon: float, n: int, modelled: int, n_bounds: int, n_cats: int, n_public: bool) -> Costs:
    """Costs at ε for ``n`` patients: ``modelled`` columns, of which ``n_bounds`` numerical/datetime
    and ``n_cats`` categorical ones have no public domain; N released unless ``n_public``."""
    if math.isinf(epsilon):
        return Costs(0.0, 1.0, 1.0, 0.0, modelled)
    releases = BOUNDS_RELEASES * n_bounds + n_cats + (0 if n_public else 1)
    ledger, sigma = _ledger(epsilon, n, releases, n_cats)
    tau = 1 + sigma * NormalDist().inv_cdf(1 - ledger.delta_threshold / n_cats) if n_cats else 0.0
    z = NormalDist().inv_cdf(1 - _EMPTY_BIN_KEEP / (len(BOUNDS_GRID) - 1))

    def table_sigma(k: int) -> float:
        return ledger_sigma(ledger, LABEL_PART * MARGINAL_SHARE, max(k, 1))

    need = NUMERIC_BINS * MIN_SIGNAL
    lo, hi = 0, 1
    while hi < 100_000 and need * table_sigma(hi) <= n:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if need * table_sigma(mid) <= n else (lo, mid)
    return Costs(sigma, tau, z * sigma, table_sigma(modelled), lo)


def _about(x: float) -> str:
    """A number rounded to two significant digits, with thousands separators."""
    if x < 10:
        return f"{x:.0f}"
    digits = 10 ** (int(math.log10(x)) - 1)
    return f"{round(x / digits) * digits:,.0f}"


def _round_n(n: int) -> int:
    """N to one significant digit: a cost needs its order, and the review never says the count."""
    if n < 10:
        return max(n, 2)
    digits = 10 ** int(math.log10(n))
    return int(round(n / digits) * digits)


def review_metadata(meta: Metadata, df: pd.DataFrame, epsilon: float = 1.0, source: str = "the CSV") -> Review:
    """One :class:`ColumnReview` per column of ``meta`` and summary lines, from ``df`` as read."""
    df = df.rename(columns=str)
    check_columns(df, meta, source)
    schema = resolve_columns(meta)  # the columns, read once
    public_n = meta.public_patients()
    patients = df[schema.sequence_key].nunique() if schema.sequence_key else len(df)
    n = public_n if public_n is not None else _round_n(patients)
    modelled = [c.name for c in schema if is_modelled(c.sdtype)]
    needs = {c: schema[c].needs() for c in modelled}
    n_bounds = sum(v == "bounds" for v in needs.values())
    n_cats = sum(v == "categories" for v in needs.values())
    cost = costs(epsilon, n, len(modelled), n_bounds, n_cats, public_n is not None)
    exact = math.isinf(epsilon)
    rows = [_column(schema, c, len(meta.listed_values(c.name) or []), df[c.name], needs.get(c.name), cost, exact)
            for c in schema]
    summary = [f"{len(modelled)} columns modelled: {len(modelled) - n_bounds - n_cats} with a public domain, "
               f"{n_bounds + n_cats} estimated under DP; {len(meta.columns) - len(modelled)} not modelled "
               f"(ids, pii). N: {public_n if public_n is not None else f'about {n:,}'} patients "
               f"({'synth_patients' if public_n is not None else 'rounded; released under DP by fit'})."]
    if exact:
        summary.append("ε = inf: no privacy, every domain is read exactly.")
    else:
        if n_bounds + n_cats:
            summary.append(
                f"at ε = {epsilon:g} the {n_bounds + n_cats} estimates share {PREP_SHARE:.0%} of ε, each with noise "
                f"σ ≈ {_about(cost.sigma_domain)}: a category needs ~{_about(cost.category)} patients to be "
                f"released, a range ~{_about(cost.interval)} patients in its 1-2-5 interval. Give range_min/"
                "range_max and range_values from the data dictionary to save this.")
        summary.append(
            f"tables: each modelled column's table gets noise σ ≈ {_about(cost.sigma_table)} per cell, so a "
            f"{NUMERIC_BINS}-bin column needs ~{_about(NUMERIC_BINS * MIN_SIGNAL * cost.sigma_table)} patients "
            f"(per label value) for full resolution; at this ε and N about {cost.carried:,} modelled columns "
            "would keep it (fit coarsens the tables when there are more).")
    try:
        coerce_frame(df, meta, source, public=True)
    except SynthError as exc:
        summary.append(f"values: {exc}")
    unreviewed = meta.unreviewed()
    if unreviewed:
        summary.append(f"{len(unreviewed)} drafted fields are still listed under synth_review: check each against "
                       "the data dictionary, then delete the marker (fit warns until then).")
    return Review(rows, summary)


def _column(schema: Schema, spec: ColumnSpec, listed: int, s: pd.Series, need: str | None, cost: Costs,
            exact: bool) -> ColumnReview:
    """``listed``: how many range_values the metadata lists for the column (public or not)."""
    col, sdtype = spec.name, spec.sdtype
    todo: list[str] = []
    drop = False
    missing = float(s.isna().mean()) if len(s) else 0.0
    nonnull = s.dropna()
    distinct = nonnull.map(str).nunique()
    if not is_modelled(sdtype):
        domain, text = "-", "-"
        if col in (schema.primary_key, schema.sequence_key):
            todo.append("the patient id" if col == schema.primary_key else "the patient id (sequence_key)")
        elif is_row_number(col, s):
            todo.append("row numbers: drop")
            drop = True
        else:
            todo.append("not modelled (fresh ids)" if is_id(sdtype) else "not modelled (placeholders): drop")
            drop = is_pii(sdtype)
    elif need is None:
        domain = "public"
        text = "-"
    else:
        domain = "exact (ε = inf)" if exact else "DP estimate"
        text = ("-" if exact else f"2 histograms: ~{_about(cost.interval)} per interval"
                if need == "bounds" else f"counts: ~{_about(cost.category)} per category")
    if is_modelled(sdtype):
        if nonnull.empty:
            todo.append("empty: drop")
            drop = True
        elif missing > MOSTLY_MISSING:
            todo.append("mostly missing: drop?")
            drop = True
        if distinct == 1:
            todo.append("one value: drop")
            drop = True
    if is_categorical(sdtype) and not is_boolean(sdtype) and distinct > 1:
        many = distinct > MANY_CATEGORIES or listed > MANY_CATEGORIES
        if distinct > MANY_CATEGORIES and looks_like_free_text(nonnull):
            todo.append("free text: drop or code")
            drop = True
        elif distinct > MANY_CATEGORIES and distinct >= 0.5 * len(nonnull):
            todo.append("near-unique: drop or coarsen")
            drop = True
        elif many:
            todo.append("many categories: coarsen")
            drop = True
        if need == "categories" and not exact:
            counts = nonnull.map(str).value_counts().to_numpy()
            if (counts < cost.category).all():
                todo.append("give range_values (none frequent enough)")
            elif (counts < cost.category).any():
                todo.append("give range_values (rare ones lost)")
    if need == "bounds" and not exact and len(nonnull) and _too_few_for_bounds(nonnull, spec, cost):
        todo.append("give range_min/range_max (too few to estimate)")
    return ColumnReview(col, sdtype, domain, text, todo, drop)


def _too_few_for_bounds(nonnull: pd.Series, spec: ColumnSpec, cost: Costs) -> bool:
    """Whether no 1-2-5 interval holds enough values for its noisy bin to count (fit would stop)."""
    if is_datetime(spec.sdtype):
        fmt = spec.datetime_format
        parsed = pd.to_datetime(nonnull, errors="coerce", format=fmt) if fmt else pd.to_datetime(nonnull,
                                                                                                errors="coerce")
        values = epoch_seconds(parsed.dropna())
    else:
        values = pd.to_numeric(nonnull, errors="coerce").dropna().to_numpy(dtype=float)
    if not len(values):
        return False
    clipped = np.clip(values, BOUNDS_GRID[0], BOUNDS_GRID[-1] - 1e-9)
    return bool(np.histogram(clipped, bins=BOUNDS_GRID)[0].max() < cost.interval)
