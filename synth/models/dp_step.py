"""The discriminator's DP-SGD step: Opacus' ghost clipping on patient-and-generated-row pairs.

Row i of a step is a pair: real patient i of the Poisson batch and generated row i, stacked as
a sequence of two, ``(k, 2, width)``, and passed through the discriminator once. Opacus clips
each pair's whole gradient (the two positions summed) to norm C, so removing a patient removes
one pair and the noisy sum moves by at most C: the sensitivity the accountant assumes. Ghost
clipping (``GradSampleModuleFastGradientClipping``) computes those per-pair norms from the
layers' activations and output gradients, exactly, without materialising per-pair gradients,
then a second backward pass sums the clipped gradients; ``DPOptimizerFastGradientClipping``
adds N(0, σ²C²) from the secret generator and averages over the public expected batch size.

:func:`pair_loss_reference` is the same loss over two separate forward passes, as Opacus'
DCGAN example does with per-sample gradients materialised; the tests check the two steps agree.

What would void the guarantee: Opacus' fast-clipping module over two forward passes in one
step (it keeps the last pass's norm only), a second optimizer over the discriminator, a loss
whose row i reads more than one real patient, skipping a step on an empty batch, or noise from
any generator but the secret one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from opacus.grad_sample import GradSampleModuleFastGradientClipping
from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
from opacus.optimizers import DistributedDPOptimizerFastGradientClipping, DPOptimizerFastGradientClipping
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping
from opacus.validators import ModuleValidator

from synth.distributed.group import all_reduce_flat
from synth.models.networks import Discriminator

__all__ = ["NO_LABEL", "pair_losses", "pair_loss_reference", "private_discriminator", "dp_step"]

NO_LABEL = -1  # a patient whose label value was not released: no class loss, still sampled


def pair_losses(d: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
                y_fake: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """(k,) the AC-GAN discriminator loss of each (patient i, generated row i) pair, one forward pass.

    The generated rows are post-processing of earlier DP releases and carry no real data.
    """
    k = len(x)
    scores, classes = d(torch.stack([x, fake], dim=1))  # (k, 2), (k, 2, classes)
    loss = (F.binary_cross_entropy_with_logits(scores[:, 0], torch.ones(k), reduction="none")
            + F.binary_cross_entropy_with_logits(scores[:, 1], torch.zeros(k), reduction="none"))
    if n_classes:
        loss = loss + F.cross_entropy(classes[:, 0], y, reduction="none", ignore_index=NO_LABEL)
        loss = loss + F.cross_entropy(classes[:, 1], y_fake, reduction="none")
    return loss


def pair_loss_reference(d, x, y, fake, y_fake, n_classes):
    """The mean pair loss over two forward passes (real, then generated): the slow reference,
    for Opacus' materialised per-sample gradients, which sum the passes per row index."""
    s_real, c_real = d(x)
    s_fake, c_fake = d(fake)
    loss = F.binary_cross_entropy_with_logits(s_real, torch.ones_like(s_real), reduction="sum")
    loss = loss + F.binary_cross_entropy_with_logits(s_fake, torch.zeros_like(s_fake), reduction="sum")
    if n_classes:
        loss = loss + F.cross_entropy(c_real, y, reduction="sum", ignore_index=NO_LABEL)
        loss = loss + F.cross_entropy(c_fake, y_fake, reduction="sum")
    return loss / max(len(x), 1)  # a mean that stays finite on an empty Poisson batch


class _FlatDistributedOptimizer(DistributedDPOptimizerFastGradientClipping):
    """Opacus' distributed ghost-clipping optimizer with its per-parameter all-reduce done as one
    (the same sums, divided by the world size as Opacus does for a mean loss)."""

    def reduce_gradients(self) -> None:
        grads = [p.grad for p in self.params if p.requires_grad]
        all_reduce_flat(grads, self.world_size if self.loss_reduction == "mean" else 1)


def private_discriminator(disc: Discriminator, optimizer: torch.optim.Optimizer, sigma: float,
                          max_grad_norm: float, expected_batch: float, noise: torch.Generator, world: int = 1):
    """The ghost-clipping module and the optimizer that clips at ``max_grad_norm``, adds
    N(0, σ²C²) from ``noise`` and averages over ``expected_batch`` (the ledger's public N·q).

    With ``world`` > 1 processes (:mod:`synth.distributed`): the discriminator starts from rank
    0's weights (Opacus' ``DPDDP``), each rank's clipped sum is added across ranks, and rank 0
    alone adds the noise (``DistributedDPOptimizerFastGradientClipping``, which divides by the
    per-rank ``expected_batch / world`` and then by ``world``: the same N·q in all).
    """
    ModuleValidator.validate(disc, strict=True)  # no BatchNorm, nothing Opacus cannot clip per sample
    if world > 1:
        disc = DPDDP(disc)
    module = GradSampleModuleFastGradientClipping(disc, batch_first=True, loss_reduction="mean",
                                                  max_grad_norm=max_grad_norm, use_ghost_clipping=True)
    module.forbid_grad_accumulation()
    kind = _FlatDistributedOptimizer if world > 1 else DPOptimizerFastGradientClipping
    dp_optimizer = kind(optimizer, noise_multiplier=sigma, max_grad_norm=max_grad_norm,
                        expected_batch_size=expected_batch / world, loss_reduction="mean", generator=noise)
    return module, dp_optimizer


def dp_step(module: GradSampleModuleFastGradientClipping, optimizer: DPOptimizerFastGradientClipping,
            x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor, y_fake: torch.Tensor | None,
            n_classes: int) -> None:
    """One charged DP-SGD step on a Poisson batch (possibly empty) and as many generated rows."""
    optimizer.zero_grad(set_to_none=True)
    if len(x):
        losses = pair_losses(module, x, y, fake, y_fake, n_classes)
        DPTensorFastGradientClipping(module, optimizer, losses, "mean").backward()
    else:  # the sum of no clipped gradients is zero: the step adds the noise alone
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
    optimizer.step()  # the one charged step for this Poisson batch
