"""The generator's side of a numerical outcome's released sums by arm: each arm's mean.

A declared analysis's numerical outcome is released as its sums by arm
(:class:`synth.privacy.analysis_tables.AnalysisMean`); divided by each arm's number of patients
with a value (read off the released arm × outcome table), they give each arm's mean of 2u − 1
(u the value on the column's [0, 1] scale). For a batch of generated rows the term takes the
same mean from the generator's own probabilities (the bins' expected index plus the offset
within the bin, weighted by P(value present) and by the row's arm: its label, or its soft arm
cells) and adds the squared distance, weighted by the arms' shares. Post-processing: it reads
the generator's logits and released values only.

Each arm's target is the inverse-variance combination of two independent Gaussian releases of
its mean: the sums' (σ_s² / n² its variance) and the released arm × outcome table's bin-centre
mean (:func:`table_means`); the arms' difference is then shrunk by the combined variance
(:func:`shrunk_means`). What would void the guarantee: a count, sum or variance read off the
real rows instead of the releases and their σ.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from synth.encode.table import CellBlock
from synth.privacy.analysis_tables import AnalysisMean
from synth.privacy.marginals import MarginalTable

__all__ = ["MeanTerm", "MEAN_WEIGHT", "arm_means", "shrunk_means", "table_means", "combined_means"]

# Next to the tables' squared distances (probabilities; a mean's scale is [-1, 1]). At 1 a mean
# missed where the arm is not the fit's class; at 10 it held (bench/RESULTS.md, issue 46).
MEAN_WEIGHT = 10.0


def _released_table(mean: AnalysisMean, tables: list[MarginalTable]) -> tuple[np.ndarray, np.ndarray, float] | None:
    """(each arm's number of patients with a value, each arm's noisy counts of the value's bins,
    their σ), from the released arm × outcome table; None when the fit released none at full
    resolution."""
    key = (mean.outcome.start,) if mean.arm is None else (mean.arm.start, mean.outcome.start)
    for t in tables:
        if tuple(b.start for b in t.blocks) == key and t.by_label == (mean.arm is None) and not t.groups \
                and t.pooled_by is None and t.totals is not None:
            cond = t.conditional()
            keep = slice(0, mean.outcome.width)  # the value's bins (the missing cell, if any, is last)
            if mean.arm is None:
                return np.asarray(t.totals, dtype=float) * cond[:, keep].sum(axis=1), t.counts[:, keep], t.sigma
            return float(t.totals[0]) * cond[0, :, keep].sum(axis=1), t.counts[0, :, keep], t.sigma
    return None


def table_means(counts: np.ndarray, sigma: float, present: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(arms, bins) noisy counts of a numerical outcome's equal-width bins, their Gaussian σ, and
    each arm's number of values n → each arm's bin-centre mean of 2u − 1, Σ_b c_b v_b / n (v_b the
    bin's centre on [−1, 1]), and its variance σ² Σ_b v_b² / n² (n taken as known, as for the
    sums; the centres sum to 0, so this is the least variance of any c + Σ_b c_b (v_b − c) / n)."""
    width = counts.shape[1]
    centres = (2 * np.arange(width) + 1) / width - 1
    n = np.maximum(np.asarray(present, dtype=float), 1.0)
    return np.asarray(counts, dtype=float) @ centres / n, sigma ** 2 * float((centres ** 2).sum()) / n ** 2


def combined_means(a: np.ndarray, var_a: np.ndarray, b: np.ndarray, var_b: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Two independent estimates of each arm's mean and their variances → the inverse-variance
    combination and its variance 1 / (1/var_a + 1/var_b); an estimate of variance 0 (exact) is
    taken as it is, ``a`` first; a non-finite one is ignored. (The table's estimate is of the
    bins' centre mean: bench/RESULTS.md measures its bias on the arm difference, 0–0.35 trial
    SEs, weighted by its share, ≈ 0.23.)"""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    var_a, var_b = np.broadcast_to(var_a, a.shape).astype(float), np.broadcast_to(var_b, b.shape).astype(float)
    ok_b = np.isfinite(b) & np.isfinite(var_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_a = np.where(var_a > 0, 1 / var_a, np.inf)
        w_b = np.where(ok_b, np.where(var_b > 0, 1 / var_b, np.inf), 0.0)
        mean = np.where(np.isinf(w_a), a, np.where(np.isinf(w_b), b, (w_a * a + w_b * np.where(ok_b, b, 0)) / (w_a + w_b)))
        var = np.where(np.isinf(w_a), 0.0, np.where(np.isinf(w_b), 0.0, 1 / (w_a + w_b)))
    return mean, var


def arm_means(mean: AnalysisMean, tables: list[MarginalTable]) -> tuple[np.ndarray, np.ndarray]:
    """(each arm's target mean of 2u − 1, each arm's weight); an arm with under one patient gets
    weight 0. The target combines the sums' mean and the table's (:func:`combined_means`), its
    difference from the first arm shrunk by the combined variance (:func:`shrunk_means`)."""
    released = _released_table(mean, tables)
    if released is None or len(released[0]) != len(mean.sums):
        return np.zeros(len(mean.sums)), np.zeros(len(mean.sums))
    counts, bins, table_sigma = released
    ok = counts >= 1
    n = np.where(ok, counts, 1.0)
    target, var = combined_means(np.where(ok, mean.sums / n, 0.0), mean.sigma ** 2 / n ** 2,
                                 *table_means(bins, table_sigma, n))
    weight = np.where(ok, counts, 0.0)
    weight = weight / max(weight.sum(), 1e-9)
    return shrunk_means(np.clip(target, -1, 1), var, weight), weight


def shrunk_means(means: np.ndarray, variances: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Each arm's mean, its difference from arm 0 shrunk by the noise the releases give it
    (positive-part James–Stein, Var = var_k + var_0, each arm's mean's variance), the arms'
    weighted mean kept: a difference the noise alone could have made becomes none, so the
    synthetic data do not show an effect the trial never had (bench/RESULTS.md, issue 46).
    Post-processing of releases."""
    used = weight > 0  # arms with under one released patient keep their (unused) target
    variances = np.broadcast_to(np.asarray(variances, dtype=float), np.shape(means))
    if used.sum() < 2 or not np.isfinite(means[used]).all() or not np.isfinite(variances[used]).all() \
            or not (variances[used] > 0).any():
        return means
    ref = int(np.flatnonzero(used)[0])  # the first arm with patients is the reference
    d = means - means[ref]
    var = variances + variances[ref]
    factor = np.where(d != 0, np.clip(1 - var / np.where(d != 0, d ** 2, 1), 0, 1), 0.0)
    shrunk = factor * d
    out = np.clip(shrunk + float((weight * means).sum() - (weight * shrunk).sum()), -1, 1)
    return np.where(used, out, means)


def _generated_values(raw: torch.Tensor, block: CellBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """(expected 2u − 1 of each generated row, P(the value is present))."""
    p = F.softmax(raw[:, block.start:block.start + block.width], dim=1)
    index = torch.arange(block.width, dtype=raw.dtype, device=raw.device)
    u = ((p * index).sum(dim=1) + (torch.tanh(raw[:, block.start + block.width]) + 1) / 2) / block.width
    present = raw.new_ones(len(raw)) if block.missing is None else \
        F.softmax(raw[:, block.missing:block.missing + 2], dim=1)[:, 0]
    return 2 * u - 1, present


class MeanTerm:
    """Σ over numerical outcomes of the arm-weighted squared distance of the generated arm means."""

    def __init__(self, means: list[AnalysisMean], tables: list[MarginalTable]):
        self.means = means
        pairs = [arm_means(m, tables) for m in means]
        self.targets = [torch.as_tensor(t, dtype=torch.float32) for t, _ in pairs]
        self.weights = [torch.as_tensor(w, dtype=torch.float32) for _, w in pairs]

    def to(self, device: torch.device | str) -> MeanTerm:
        self.targets = [t.to(device) for t in self.targets]
        self.weights = [w.to(device) for w in self.weights]
        return self

    def __call__(self, raw: torch.Tensor, by_label: torch.Tensor) -> torch.Tensor:
        loss = raw.new_zeros(())
        for mean, target, weight in zip(self.means, self.targets, self.weights):
            values, present = _generated_values(raw, mean.outcome)
            if mean.arm is None:
                arms = by_label
            else:
                arms = F.softmax(raw[:, mean.arm.start:mean.arm.start + mean.arm.width], dim=1)
            if arms.shape[1] != len(target):
                continue
            w = arms * present[:, None]
            generated = (w * values[:, None]).sum(dim=0) / w.sum(dim=0).clamp(min=1e-6)
            loss = loss + MEAN_WEIGHT * (weight * (generated - target) ** 2).sum()
        return loss
