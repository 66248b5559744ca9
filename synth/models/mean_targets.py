"""The generator's side of a numerical outcome's released sums by arm: each arm's mean.

A declared analysis's numerical outcome is released as its sums by arm
(:class:`synth.privacy.analysis_tables.AnalysisMean`); divided by each arm's number of patients
with a value (read off the released arm × outcome table), they give each arm's mean of 2u − 1
(u the value on the column's [0, 1] scale). For a batch of generated rows the term takes the
same mean from the generator's own probabilities (the bins' expected index plus the offset
within the bin, weighted by P(value present) and by the row's arm: its label, or its soft arm
cells) and adds the squared distance, weighted by the arms' shares. Post-processing: it reads
the generator's logits and released values only.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from synth.encode.table import CellBlock
from synth.privacy.analysis_tables import AnalysisMean
from synth.privacy.marginals import MarginalTable

__all__ = ["MeanTerm", "MEAN_WEIGHT", "arm_means", "shrunk_means"]

# Next to the tables' squared distances (probabilities; a mean's scale is [-1, 1]). At 1 a mean
# missed where the arm is not the fit's class; at 10 it held (bench/RESULTS.md, issue 46).
MEAN_WEIGHT = 10.0


def _present_counts(mean: AnalysisMean, tables: list[MarginalTable]) -> np.ndarray | None:
    """Each arm's number of patients with a value, from the released arm × outcome table."""
    key = (mean.outcome.start,) if mean.arm is None else (mean.arm.start, mean.outcome.start)
    for t in tables:
        if tuple(b.start for b in t.blocks) == key and t.by_label == (mean.arm is None) and not t.groups \
                and t.pooled_by is None and t.totals is not None:
            cond = t.conditional()
            keep = slice(0, mean.outcome.width)  # the value's bins (the missing cell, if any, is last)
            if mean.arm is None:
                return np.asarray(t.totals, dtype=float) * cond[:, keep].sum(axis=1)
            return float(t.totals[0]) * cond[0, :, keep].sum(axis=1)
    return None


def arm_means(mean: AnalysisMean, tables: list[MarginalTable]) -> tuple[np.ndarray, np.ndarray]:
    """(each arm's target mean of 2u − 1, each arm's weight); an arm with under one patient gets weight 0."""
    counts = _present_counts(mean, tables)
    if counts is None or len(counts) != len(mean.sums):
        return np.zeros(len(mean.sums)), np.zeros(len(mean.sums))
    ok = counts >= 1
    target = np.clip(np.where(ok, mean.sums / np.where(ok, counts, 1), 0.0), -1, 1)
    weight = np.where(ok, counts, 0.0)
    weight = weight / max(weight.sum(), 1e-9)
    return shrunk_means(target, np.where(ok, counts, 1.0), mean.sigma, weight), weight


def shrunk_means(means: np.ndarray, counts: np.ndarray, sigma: float, weight: np.ndarray) -> np.ndarray:
    """Each arm's mean, its difference from arm 0 shrunk by the noise the released sums give it
    (positive-part James–Stein, Var ≈ σ² (1/n_k² + 1/n_0²)), the arms' weighted mean kept: a
    difference the noise alone could have made becomes none, so the synthetic data do not show
    an effect the trial never had (bench/RESULTS.md, issue 46). Post-processing of releases."""
    used = weight > 0  # arms with under one released patient keep their (unused) target
    if used.sum() < 2 or not sigma > 0 or not np.isfinite(sigma) or not np.isfinite(means[used]).all():
        return means
    ref = int(np.flatnonzero(used)[0])  # the first arm with patients is the reference
    d = means - means[ref]
    var = sigma ** 2 * (1 / counts ** 2 + 1 / counts[ref] ** 2)
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
