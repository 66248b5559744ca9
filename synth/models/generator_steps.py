"""The generator's side of the GAN: its input draws, its fit to the released tables, its steps.

All of it is post-processing: the generator never sees a real row. It draws noise and labels
from torch's public stream (seeded by the user's ``seed``) at the DP-released label
proportions, is fitted to the already released noisy tables (:func:`pretrain_generator`) and
is updated through the already privatised discriminator (:func:`generator_step`). What would
void the guarantee: a generator step that updates the discriminator or charges its
optimizer, or a number of generated rows that depends on a secret batch size
(:mod:`synth.models.train` always asks for a public number of them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from synth.distributed.group import SINGLE, Ranks, average_gradients
from synth.encode.table import Span
from synth.models import Generator
from synth.models.marginal_loss import MarginalLoss
from synth.models.train_config import TrainConfig
from synth.models.within_bin import offset_spread

__all__ = ["Draws", "GeneratorLoss", "pretrain_generator", "generator_step"]


class Draws:
    """The generator's inputs and its prior (post-processing: public draws and generated rows only)."""

    def __init__(self, config: TrainConfig, n_classes: int, label_proportions: list[float], spans: list[Span]):
        self.config, self.n_classes = config, n_classes
        self.probs = torch.as_tensor(label_proportions if n_classes else [1.0], dtype=torch.float32)
        self.tanh_columns = torch.as_tensor([s.start for s in spans if s.activation == "tanh"], dtype=torch.long)

    def __call__(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(k, self.config.noise_dim)
        if not self.n_classes:
            return z, None
        return z, (torch.multinomial(self.probs, k, replacement=True) if k else torch.zeros(0, dtype=torch.long))

    def prior(self, raw: torch.Tensor) -> torch.Tensor:
        spread = self.config.offset_spread
        return spread * offset_spread(raw, self.tanh_columns) if spread else raw.new_zeros(())


def _update(gen: Generator, opt: torch.optim.Optimizer, loss: torch.Tensor, ranks: Ranks) -> None:
    """One optimiser step of the generator on ``loss`` (gradients averaged over the ranks)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(gen, ranks)
    opt.step()


def pretrain_generator(gen: Generator, marginals: MarginalLoss, draw, steps: int, lr: float,
                        batch: int, prior=None, ranks: Ranks = SINGLE) -> None:
    """Fit the generator to the released tables alone (post-processing: no real data, no charge)."""
    opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.9))
    for _ in range(steps):
        z, y_fake = draw(batch)
        raw = gen.logits(z, y_fake)
        loss = marginals(raw, y_fake)
        if prior is not None:
            loss = loss + prior(raw)
        _update(gen, opt, loss, ranks)


@dataclass(frozen=True)
class GeneratorLoss:
    """The terms of a generator step's loss beyond fooling the discriminator: its auxiliary
    classifier's (``n_classes``), the fit to the released tables (``marginals`` at ``weight``), the
    ``prior`` on the generated rows, and the ``mask`` the generated rows pass before the
    discriminator sees them (sequences: padding zeroed). All post-processing: released tables,
    generated rows."""

    n_classes: int
    marginals: MarginalLoss | None = None
    weight: float = 0.0
    mask: Callable[[torch.Tensor], torch.Tensor] | None = None
    prior: Callable[[torch.Tensor], torch.Tensor] | None = None


def generator_step(gen, disc, opt_g, draw, batch: int, terms: GeneratorLoss, ranks: Ranks = SINGLE) -> torch.Tensor:
    """One generator update through the discriminator: no per-sample gradients, no charge.
    Returns the loss, detached (read it with ``float`` when it is shown: no host sync per step).

    The discriminator's hooks are off and its parameters frozen, so nothing here touches its
    optimizer, its per-sample gradients or the accountant. The marginal term compares the
    batch with already-released noisy tables (post-processing).
    """
    disc.disable_hooks()
    for p in disc.parameters():
        p.requires_grad_(False)
    try:
        z, y_fake = draw(batch)
        raw = gen.logits(z, y_fake)
        fake = gen.draw(raw)
        s_fake, c_fake = disc(terms.mask(fake) if terms.mask is not None else fake)
        loss = F.binary_cross_entropy_with_logits(s_fake, torch.ones_like(s_fake))
        if terms.n_classes:
            loss = loss + F.cross_entropy(c_fake, y_fake)
        if terms.marginals is not None:
            loss = loss + terms.weight * terms.marginals(raw, y_fake)
        if terms.prior is not None:
            loss = loss + terms.prior(raw)
        _update(gen, opt_g, loss, ranks)
    finally:
        for p in disc.parameters():
            p.requires_grad_(True)
        disc.enable_hooks()
    return loss.detach()
