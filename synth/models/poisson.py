"""Poisson batches of patients for DP-SGD, one tensor draw per step.

Each step keeps every patient independently with probability exactly ``q``, drawn from the
secret generator: the same draw as Opacus' ``UniformWithReplacementSampler``
(``torch.rand(N) < q``), applied to the whole tensor at once instead of row by row through a
``DataLoader``. An empty batch is a batch: the step still runs and is still charged.

What would void the guarantee: a rate other than the accountant's ``q``, a generator other
than the secret one (torch's global generator is seeded with the user's ``seed``), skipping a
step whose batch is empty, or more steps than were calibrated.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from synth.privacy import observe

__all__ = ["PoissonBatches", "POISSON_DRAW"]

POISSON_DRAW = "poisson:batch"


class PoissonBatches:
    """``steps`` Poisson batches of ``(x, y)`` at rate ``q`` from ``generator``."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, q: float, steps: int, generator: torch.Generator):
        if len(x) != len(y):
            raise ValueError("x and y differ in length")  # a bug's message: no count of patients
        if not 0 < q <= 1:
            raise ValueError(f"sample rate must be in (0, 1], got {q}")
        self.x, self.y, self.q, self.steps, self.generator = x, y, q, steps, generator

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for _ in range(self.steps):
            keep = torch.rand(len(self.x), generator=self.generator, device=self.generator.device) < self.q
            if observe.active():  # the neighbour harness couples two runs' batches patient by patient
                keep = observe.drawn(POISSON_DRAW, keep, rows=self.x, q=self.q)
            yield self.x[keep], self.y[keep]
