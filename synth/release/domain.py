"""The domain's DP estimates: the patient count, bounds, categories and the label's counts.

Privacy assumption: :func:`build_domain` reads a column only to run a Gaussian mechanism whose
release is recorded in the ledger: the number of patients where the metadata states none
(``synth_patients``), bounds where the metadata gives no public ``range_min``/``range_max``,
categories where it gives no public ``range_values``, and the label's counts (used for label
proportions at sampling). Whether a column has missing values is taken from public
``range_is_nullable`` or else assumed (every such column gets a missing-value indicator), never
read off the data. What it returns (:class:`synth.privacy.domain.Domain`) holds public metadata
and these releases only; the guarantee is void if anything else read here reaches it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import FIX_IN_METADATA, SynthError, SynthWarning
from synth.schema.columns import ColumnSpec, Schema, resolve_columns
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import is_boolean, is_pii
from synth.privacy.domain import (MAX_DEFAULT_DELTA, PREP_SHARE, THRESHOLD_DELTA_SHARE, ColumnDomain, Domain,
                                  default_delta)
from synth.privacy.ledger import N_RELEASED, Ledger, Mechanism, calibrate_sigma
from synth.privacy.mechanisms import BOUNDS_RELEASES, discover_categories, dp_bounds, noisy_counts
from synth.schema.validate import category_key

__all__ = ["build_domain", "UnreleasedDomains", "describe_unreleased"]


def _native_values(meta_values: tuple | None, keys: list[str], sdtype: str) -> list[Any]:
    if meta_values is not None:
        return list(meta_values)
    if is_boolean(sdtype):
        return [k == "True" for k in keys]
    try:
        return [int(k) for k in keys]
    except ValueError:
        return list(keys)


def build_domain(
    data: pd.DataFrame,
    schema: Schema | Metadata,
    label: str | None,
    ledger: Ledger,
    rng: np.random.Generator,
    extra_counts: dict[str, Callable[[dict[str, ColumnDomain]], float]] | None = None,
) -> Domain:
    """Public domain where the metadata has it; Gaussian-mechanism estimates elsewhere.

    ``data`` is :func:`synth.schema.validate.coerce_frame`'s output, one row per patient; ``schema``
    the metadata's columns resolved (:func:`synth.schema.columns.resolve_columns`; a Metadata is
    resolved here), every column of ``data`` among them. Appends one
    Mechanism per release to ``ledger`` and sets its ``delta_threshold`` when categories are
    discovered. A ledger without ``n_patients`` gets the released count of patients
    (``count:patients``, the first release); a ledger without ``delta`` gets
    :func:`default_delta` of that count (the releases' σ is calibrated at the largest default,
    ``MAX_DEFAULT_DELTA``, and every later σ at the final δ, so the total stays within ε).
    ``extra_counts`` maps a name to a count of patients (sensitivity 1, computed
    from the column domains once they are known): each is released with the same noise and
    kept in ``Domain.released_counts``. Columns DP could not release raise one
    :class:`UnreleasedDomains`; :meth:`Domain.release_warnings` are issued as SynthWarnings.
    """
    extra_counts = extra_counts or {}
    schema = resolve_columns(schema) if isinstance(schema, Metadata) else schema  # checked before any release
    specs = [schema[c] for c in data.columns]
    needs = [spec.needs() for spec in specs]
    n_cats = needs.count("categories")
    releases = (needs.count("bounds") * BOUNDS_RELEASES + n_cats + (1 if label else 0) + len(extra_counts)
                + (1 if ledger.n_patients is None else 0))
    rel = _open_releases(ledger, rng, releases, n_cats, len(data))
    domains = {spec.name: _column_domain(spec, data[spec.name], rel) for spec in specs}
    label_dom = domains.pop(label) if label else None
    _check_label_values(label_dom, label, rel.unestimable)
    if any(rel.unestimable.values()):
        raise UnreleasedDomains(rel.unestimable)
    released = {}
    for name, count in extra_counts.items():
        released[name] = max(0.0, float(noisy_counts(np.array([count(domains)]), rel.sigma, rng, f"count:{name}")[0]))
        rel.record(f"count:{name}", 1, "Gaussian count of patients")
    proportions, raw = _label_proportions(data, label, label_dom, rel, bool(label and schema[label].nullable))
    domain = Domain(columns=list(domains.values()), all_columns=schema.names, label=label_dom,
                    label_proportions=proportions, label_counts=raw, label_sigma=float(rel.sigma),
                    pii_columns=[c.name for c in schema if is_pii(c.sdtype)], released_counts=released)
    for message in domain.release_warnings():  # here, on the user's columns (not a visit table's slots)
        warnings.warn(message, SynthWarning, stacklevel=3)
    return domain


@dataclass
class _Releases:
    """What every release of :func:`build_domain` shares: one σ, the ledger that records each, the
    secret generator, and the columns DP could not release (reported at once)."""

    ledger: Ledger
    rng: np.random.Generator
    sigma: float
    source: str  # a released column's source: "dp", or "exact (no privacy)" at ε = ∞
    delta_col: float = 0.0  # each discovered column's share of the thresholding δ
    unestimable: dict[str, list[str]] = field(default_factory=lambda: {"label": [], "bounds": [], "categories": []})

    def record(self, name: str, steps: int, what: str, **extra: Any) -> None:
        self.ledger.add(Mechanism(name, self.sigma, 1.0, steps, what, extra))


def _open_releases(ledger: Ledger, rng: np.random.Generator, releases: int, n_cats: int, n: int) -> _Releases:
    """σ for ``releases`` Gaussian releases within the preprocessing share of ε, then N's release
    (the first; ``n`` is the data's count, released only where the ledger has no public N) and δ."""
    exact = ledger.no_guarantee
    default = ledger.delta is None
    if default:
        ledger.delta = MAX_DEFAULT_DELTA  # provisional: σ is calibrated at the largest default
    if n_cats and not exact:
        ledger.delta_threshold = THRESHOLD_DELTA_SHARE * ledger.delta
    sigma = 0.0
    if releases and not exact:
        sigma = calibrate_sigma(PREP_SHARE * ledger.target_epsilon, PREP_SHARE * ledger.accountant_delta,
                                sample_rate=1.0, steps=releases, prior=ledger.history())
    rel = _Releases(ledger, rng, sigma, "exact (no privacy)" if exact else "dp")
    if ledger.n_patients is None:
        released_n = float(noisy_counts(np.array([n]), sigma, rng, "count:patients")[0])
        rel.record("count:patients", 1, "Gaussian count of patients (N, used wherever N is used)")
        ledger.n_patients = max(1, int(round(released_n)))
        ledger.n_patients_source = "exact (no privacy)" if exact else N_RELEASED
    if default:
        ledger.delta = default_delta(ledger.n_patients)
        if n_cats and not exact:
            ledger.delta_threshold = THRESHOLD_DELTA_SHARE * ledger.delta
    elif not ledger.delta < 1 / ledger.n_patients:
        raise SynthError(f"delta (--delta, delta=) must be below 1/N, got {ledger.delta}: " + (  # an exact N stays unsaid
            f"N is the data's number of patients ({ledger.n_patients_source})"
            if ledger.n_patients_source.startswith("exact") else
            f"1/N = {1 / ledger.n_patients:.3g}, N = {ledger.n_patients} patients ({ledger.n_patients_source})"))
    rel.delta_col = ledger.delta_threshold / n_cats if n_cats else 0.0
    return rel


def _column_domain(spec: ColumnSpec, s: pd.Series, rel: _Releases) -> ColumnDomain:
    """One column's domain: its public bounds or values, else their Gaussian release."""
    col, sdtype = spec.name, spec.sdtype
    if spec.nullable is False and s.isna().any():
        raise SynthError(f"column '{col}' has missing values but the metadata says range_is_nullable: false; "
                         f"{FIX_IN_METADATA}")
    nullable = True if spec.nullable is None else spec.nullable
    if spec.kind == "numerical":
        bounds, src = spec.bounds, "public"
        if bounds is None:
            try:
                bounds = dp_bounds(s.to_numpy(), rel.sigma, rel.rng, col)
            except SynthError:  # the release happened (and is charged); report every such column at once
                rel.unestimable["bounds"].append(col)
                bounds = (0.0, 1.0)
            rel.record(f"bounds:{col}", BOUNDS_RELEASES,
                       "Gaussian histograms (coarse 1-2-5 grid, then 64 bins) -> 0.5%/99.5% quantiles")
            src = rel.source
        return ColumnDomain(col, sdtype, "numerical", nullable, src, lo=bounds[0], hi=bounds[1],
                            integer=spec.integer, datetime_format=spec.datetime_format, scale=spec.scale)
    if spec.values is not None:
        keys = [category_key(v) for v in spec.values]
        if set(s.dropna().unique()) - set(keys):
            raise SynthError(f"column '{col}' holds a value outside its range_values; {FIX_IN_METADATA}")
        src = "public"
    else:
        keys = discover_categories(s.dropna().to_numpy(), rel.sigma, rel.delta_col, rel.rng)
        rel.record(f"categories:{col}", 1, "Gaussian counts, values kept above threshold tau",
                   threshold_delta=rel.delta_col)
        if not keys:
            rel.unestimable["categories"].append(col)
        nullable, src = True, rel.source  # values not released are written as missing
    return ColumnDomain(col, sdtype, "categorical", nullable, src, categories=keys,
                        values=_native_values(spec.values, keys, sdtype))


def _check_label_values(label_dom: ColumnDomain | None, label: str | None, unestimable: dict[str, list[str]]) -> None:
    """A label needs at least 2 values (released or public); the message shows a released one only."""
    if label_dom is None or len(label_dom.categories) != 1:
        return
    found = {"dp": "DP category discovery released", "public": "the metadata's range_values give"}.get(
        label_dom.source, "the data holds")
    shown = f" ({label_dom.values[0]!r})" if label_dom.source in ("dp", "public") else ""  # never a real value
    unestimable["label"].append(f"the label (--label, label=): {found} 1 value of '{label}'{shown}; a label "
                                "needs at least 2: list them as range_values in the metadata")


def _label_proportions(data: pd.DataFrame, label: str | None, label_dom: ColumnDomain | None,
                       rel: _Releases, nullable: bool) -> tuple[list[float], list[float]]:
    """The label's Gaussian counts (as released, and as proportions of their clipped sum). A label
    the metadata says may be missing (``nullable``, public) gets a last class, "missing", counted
    like a value: each patient is in one class, so the counts' sensitivity stays 1."""
    if label_dom is None:
        return [], []
    y = data[label]
    if y.isna().any() and not nullable:
        raise SynthError(f"the label (--label, label=): column '{label}' has missing values; the label must be set "
                         "for every patient, or the metadata must say range_is_nullable: true (public)")
    counts = np.array([(y == k).sum() for k in label_dom.categories] + ([y.isna().sum()] if nullable else []))
    raw = noisy_counts(counts, rel.sigma, rel.rng, f"label_counts:{label}")
    noisy = np.clip(raw, 0, None)
    rel.record(f"label_counts:{label}", 1, "Gaussian counts of each label value (label proportions)")
    total = noisy.sum()
    label_dom.nullable = nullable  # the missing class (Domain.n_classes); never a data-dependent choice
    return (noisy / total if total > 0 else np.full(len(counts), 1 / len(counts))).tolist(), raw.tolist()


class UnreleasedDomains(SynthError):
    """Columns whose domain DP could not release (``problems``: "label" messages, "bounds" and
    "categories" column names); the message names every one."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__(describe_unreleased(problems))


def describe_unreleased(problems: dict[str, list[str]]) -> str:
    """One line naming every problem, so that the user fixes the metadata once, not once per column."""
    def named(cols: list[str]) -> str:
        return ("column " if len(cols) == 1 else "columns ") + ", ".join(f"'{c}'" for c in cols)

    parts = list(problems.get("label", []))
    if problems.get("bounds"):
        their = "its" if len(problems["bounds"]) == 1 else "their"
        parts.append(f"{named(problems['bounds'])}: too few patients to estimate {their} bounds under DP; "
                     "give range_min/range_max in the metadata")
    if problems.get("categories"):
        parts.append(f"{named(problems['categories'])}: no category is held by enough patients to be "
                     "released under DP; list the categories as range_values in the metadata")
    return "; ".join(parts)
