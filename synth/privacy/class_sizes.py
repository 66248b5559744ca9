"""Label class sizes from every release that counts them (post-processing only).

The label counts are released once in preprocessing (``label_counts:<label>``, Gaussian, noise
σ0). Every label × column table released afterwards counts each class again: a row of the
table sums to that class's count (a pooled table's visits add up to 1 per patient), plus the
noise of its cells. With few patients σ0 is large next to the counts (pbcseq at ε = 1: σ0 ≈ 56
for a class of 25 patients), so one release can put a real class at zero; averaging the
independent estimates (inverse variance) and projecting onto the non-negative counts that sum
to public N gives the same counts with a fraction of the noise, at no privacy cost.

Notes
-----
The guarantee is void if anything here reads the data: it takes only released noisy counts,
their σ from the ledger and public N.

The number of patients N is itself a release when the metadata does not state it
(``count:patients``, noise σ0). Every table's cells sum to N too, so the same inverse-variance
reasoning refines it: the class sizes are then the generalised least-squares estimate given
the class counts, the tables' row sums and the N estimates (the release and each unlabelled
table's total), and their sum is the refined N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.privacy.ledger import Ledger
from synth.privacy.marginals import MarginalTable, simplex_projection

__all__ = ["NoisyCounts", "combine_class_sizes", "released_patients", "refine_patients"]


@dataclass(frozen=True)
class NoisyCounts:
    """A released Gaussian count vector (not clipped) and its noise σ (0: exact)."""

    counts: np.ndarray
    sigma: float


def released_patients(ledger: Ledger) -> NoisyCounts | None:
    """The released count of patients (``count:patients``) and its σ; None when N is public."""
    found = [m for m in ledger.mechanisms if m.name == "count:patients"]
    if not found or ledger.n_patients is None:
        return None
    return NoisyCounts(np.array([float(ledger.n_patients)]), float(found[0].noise_multiplier))


def _table_totals(tables: list[MarginalTable], labelled: bool) -> tuple[float, float]:
    """(Σ estimate/variance, Σ 1/variance) of N from every table's total (all its cells)."""
    weighted = weight = 0.0
    for table in tables:
        if table.sigma <= 0 or (labelled and table.by_label):
            continue
        variance = table.counts.size * table.sigma ** 2
        weighted += table.counts.sum() / variance
        weight += 1.0 / variance
    return weighted, weight


def refine_patients(released: NoisyCounts, tables: list[MarginalTable]) -> float:
    """Inverse-variance average of the released N and every table's total (post-processing)."""
    if released.sigma == 0:
        return float(released.counts[0])
    weighted, weight = _table_totals(tables, labelled=False)
    weighted += float(released.counts[0]) / released.sigma ** 2
    weight += 1.0 / released.sigma ** 2
    return max(1.0, weighted / weight)


def combine_class_sizes(prior: NoisyCounts, tables: list[MarginalTable], n: float | NoisyCounts) -> np.ndarray:
    """Inverse-variance average of the class counts in ``prior`` and in each labelled table's
    row sums, made non-negative with a total of N.

    A table whose rows have c cells of noise σ gives each class count with variance c·σ².
    Unlabelled tables carry no class information. With a public ``n`` the average is
    projected onto the counts that sum to it. With a released N (``NoisyCounts``), that release
    and each unlabelled table's total are further estimates of the sum: the counts are the
    generalised least-squares fit to all of them (each class moves by its share of the
    variance), then projected onto non-negative counts with their own sum. With
    ``prior.sigma == 0`` (no privacy) the prior's exact counts are returned as they are.
    """
    counts = np.asarray(prior.counts, dtype=float)
    if prior.sigma == 0:
        return counts
    weighted, weight = counts / prior.sigma ** 2, np.full(len(counts), 1.0 / prior.sigma ** 2)
    for table in tables:
        if not table.by_label or table.sigma <= 0 or len(table.counts) != len(counts):
            continue
        rows = table.counts.reshape(len(counts), -1)
        variance = rows.shape[1] * table.sigma ** 2
        weighted = weighted + rows.sum(axis=1) / variance
        weight = weight + 1.0 / variance
    mean, variance = weighted / weight, 1.0 / weight
    if not isinstance(n, NoisyCounts):
        return simplex_projection(mean, float(n))
    if n.sigma == 0:
        return simplex_projection(mean, float(n.counts[0]))
    total_w, total_weight = _table_totals(tables, labelled=True)
    total_w += float(n.counts[0]) / n.sigma ** 2
    total_weight += 1.0 / n.sigma ** 2
    total, total_variance = total_w / total_weight, 1.0 / total_weight
    fitted = mean + variance / (variance.sum() + total_variance) * (total - mean.sum())
    return simplex_projection(fitted, max(1.0, float(fitted.sum())))
