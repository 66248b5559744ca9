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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.privacy.marginals import MarginalTable, simplex_projection

__all__ = ["NoisyCounts", "combine_class_sizes"]


@dataclass(frozen=True)
class NoisyCounts:
    """A released Gaussian count vector (not clipped) and its noise σ (0: exact)."""

    counts: np.ndarray
    sigma: float


def combine_class_sizes(prior: NoisyCounts, tables: list[MarginalTable], n: int) -> np.ndarray:
    """Inverse-variance average of the class counts in ``prior`` and in each labelled table's
    row sums, projected onto non-negative counts that sum to ``n``.

    A table whose rows have c cells of noise σ gives each class count with variance c·σ².
    Unlabelled tables carry no class information and are skipped. With ``prior.sigma == 0``
    (no privacy) the prior's exact counts are returned as they are.
    """
    counts = np.asarray(prior.counts, dtype=float)
    if prior.sigma == 0:
        return counts
    weighted, weight = counts / prior.sigma ** 2, 1.0 / prior.sigma ** 2
    for table in tables:
        if not table.by_label or table.sigma <= 0 or len(table.counts) != len(counts):
            continue
        rows = table.counts.reshape(len(counts), -1)
        variance = rows.shape[1] * table.sigma ** 2
        weighted = weighted + rows.sum(axis=1) / variance
        weight += 1.0 / variance
    return simplex_projection(weighted / weight, float(n))
