"""Within-bin spread: a prior that a numerical column's values fill the bins the tables released.

The noisy tables say how many patients fall in each bin of a numerical column, nothing about
where inside it. Nothing else asks anything of the generator's within-bin offset (the tanh
output of the column), so under DP it stays near wherever initialisation left it and the
sampled values pile onto a few points inside each bin. :func:`offset_spread` asks each such
column's offsets over a generated batch to spread uniformly over (−1, 1): the 1-D Wasserstein-2
distance between their sorted values and the uniform distribution's quantiles.

Post-processing: it reads the generator's output only, never real data.
"""

from __future__ import annotations

import torch

__all__ = ["offset_spread"]


def offset_spread(raw: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """Σ over ``columns`` (the tanh columns of numerical values) of the mean squared distance
    between the batch's sorted offsets and the uniform quantiles on (−1, 1)."""
    batch = len(raw)
    if batch == 0 or len(columns) == 0:
        return raw.new_zeros(())
    offsets = torch.sort(torch.tanh(raw.index_select(1, columns)), dim=0).values  # (B, columns)
    quantiles = torch.linspace(-1 + 1 / batch, 1 - 1 / batch, batch, dtype=raw.dtype, device=raw.device)
    return ((offsets - quantiles[:, None]) ** 2).mean(dim=0).sum()
