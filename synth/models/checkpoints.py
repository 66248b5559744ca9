"""Checkpoint selection at no privacy cost: keep the epoch whose generator best matches the tables.

Taking the last epoch of a GAN is arbitrary: under DP the generator's fit to the released
tables wanders from epoch to epoch. After pretraining and after every epoch, the selector
scores the generator by the marginal-matching loss of one fixed batch of generated rows
against the noisy tables already in the ledger, and at the end of training puts back the
weights with the lowest score.

Notes
-----
The selection is post-processing only because the score reads nothing but the generator and
tables already released: scoring checkpoints on real rows (a held-out split, the
discriminator's loss on a real batch, a fidelity report) would be one more look at the data,
and the guarantee would be void unless that selection were itself a DP mechanism in the
ledger. The fixed batch has its own random stream, so the training run is the same with and
without selection.
"""

from __future__ import annotations

import torch

from synth.models.marginal_loss import MarginalLoss
from synth.models import Generator

__all__ = ["CheckpointSelector", "SCORE_ROWS", "SCORE_BLOCK"]

SCORE_ROWS = 4096  # generated rows behind each checkpoint's score
SCORE_BLOCK = 256  # rows whose table cells are computed together: they stay in the cache (issue 47)


class CheckpointSelector:
    """Scores a generator's checkpoints against released tables; restores the best one."""

    def __init__(self, marginals: MarginalLoss, label_proportions: torch.Tensor, noise_dim: int,
                 n_classes: int, seed: int, rows: int = SCORE_ROWS):
        stream = torch.Generator().manual_seed(seed)  # on the CPU, so every device scores the same batch
        device = label_proportions.device
        self.marginals = marginals
        self.z = torch.randn(rows, noise_dim, generator=stream, device="cpu").to(device)
        self.y = (torch.multinomial(label_proportions.cpu(), rows, replacement=True, generator=stream).to(device)
                  if n_classes else None)
        self.scores: list[float] = []
        self.best_epoch = -1
        self._best_state: dict[str, torch.Tensor] | None = None

    def score(self, generator: Generator) -> float:
        """The generator's loss against the tables on the fixed batch; remembered if the lowest so
        far. The tables' cells are computed ``SCORE_BLOCK`` rows at a time: the same value."""
        with torch.no_grad():
            value = float(self.marginals(generator.logits(self.z, self.y), self.y, block=SCORE_BLOCK))
        self.scores.append(value)
        if self._best_state is None or value < min(self.scores[:-1]):
            self.best_epoch = len(self.scores) - 1
            self._best_state = {k: v.detach().clone() for k, v in generator.state_dict().items()}
        return value

    def restore(self, generator: Generator) -> int:
        """Load the best checkpoint's weights into ``generator``; return its epoch (0: after pretraining)."""
        if self._best_state is None:
            raise RuntimeError("no checkpoint was scored")
        generator.load_state_dict(self._best_state)
        return self.best_epoch
