"""The generator's marginal-matching loss: post-processing of the noisy marginal tables.

For a batch of generated rows, the generator's own cell probabilities (softmax of its logits;
for a nullable numerical column, bins × present plus missing) are averaged within each label
value and compared with the noisy tables' conditional distributions; the loss is the squared
distance, weighted by the DP label proportions. Nothing here reads real data.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from synth.encode import CellBlock
from synth.privacy.marginals import MarginalTable

__all__ = ["MarginalLoss", "soft_cells"]


def soft_cells(raw: torch.Tensor, block: CellBlock) -> torch.Tensor:
    """(B, n_cells) probabilities of each generated row's cell, from the generator's logits."""
    p = F.softmax(raw[:, block.start:block.start + block.width], dim=1)
    if block.missing is None:
        return p
    p_missing = F.softmax(raw[:, block.missing:block.missing + 2], dim=1)[:, 1:2]
    return torch.cat([p * (1 - p_missing), p_missing], dim=1)


class MarginalLoss:
    """Squared distance between generated and noisy per-label cell distributions, summed over tables."""

    def __init__(self, tables: list[MarginalTable], label_proportions: list[float]):
        self.tables = tables
        self.targets = [torch.as_tensor(t.conditional(), dtype=torch.float32) for t in tables]
        n_classes = len(tables[0].counts) if tables else 1
        weights = label_proportions if label_proportions else [1.0] * n_classes
        self.weights = torch.as_tensor(weights, dtype=torch.float32)

    def __call__(self, raw: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        n_classes = len(self.weights)
        onehot = torch.ones(len(raw), 1) if y is None else F.one_hot(y, n_classes).float()
        count = onehot.sum(dim=0)
        present = (count > 0).float() * self.weights
        loss = raw.new_zeros(())
        for table, target in zip(self.tables, self.targets):
            probs = [soft_cells(raw, b) for b in table.blocks]
            if len(probs) == 1:
                joint = onehot.T @ probs[0]
            else:
                joint = torch.einsum("bc,bi,bj->cij", onehot, probs[0], probs[1])
            cond = joint / count.clamp(min=1).view(-1, *([1] * len(probs)))
            sq = ((cond - target) ** 2).reshape(n_classes, -1).sum(dim=1)
            loss = loss + (present * sq).sum()
        return loss
