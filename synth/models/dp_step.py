"""The discriminator's DP-SGD step: Opacus' ghost clipping, one clipped term per row.

A step sees the Poisson batch of real patients (k rows, k secret) and a fixed number m of
generated rows (m public: the ledger's expected batch size, whatever k is). They pass through
the discriminator once, as one ``(k + m, width)`` batch, and every row's loss gradient is
clipped to norm C on its own. Adding a patient adds one real row's term and changes nothing
else, so the clipped sum moves by at most C, the sensitivity the accountant assumes; the m
generated terms are the same with or without that patient, because the generated rows are
drawn in a layout that does not depend on k (:mod:`synth.models.train`). Ghost clipping
(``GradSampleModuleFastGradientClipping``) computes the per-row norms from the layers'
activations and output gradients, exactly, without materialising per-row gradients; a second
backward pass sums the clipped gradients; ``DPOptimizerFastGradientClipping`` adds N(0, σ²C²)
from the secret generator and averages over the public expected batch size.

Every step reports its clipped sum and its noisy sum to :mod:`synth.privacy.observe`, where
the neighbour harness checks the sensitivity as the code runs.

What would void the guarantee: pairing a real row with a generated row in one clipped term
(which generated row a patient meets then depends on the secret layout of the batch), a
number of generated rows that depends on k, Opacus' fast-clipping module over two forward
passes in one step (it keeps the last pass's norm only), a second optimizer over the
discriminator, a loss whose row reads more than one real patient, skipping a step on an empty
batch, or noise from any generator but the secret one.
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
from synth.privacy import observe

__all__ = ["NO_LABEL", "DP_SGD_RELEASE", "row_losses", "private_discriminator", "dp_step"]

NO_LABEL = -1  # a patient whose label value was not released: no class loss, still sampled
DP_SGD_RELEASE = "dp_sgd:discriminator"  # the name each step reports to synth.privacy.observe


def row_losses(d: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor,
               y_fake: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    """(k + m,) the AC-GAN discriminator loss of each row: the k real patients first, then the
    m generated rows, in one forward pass. Row i's loss reads row i alone (no batch statistics).

    The generated rows are post-processing of earlier DP releases and carry no real data.
    """
    k, m = len(x), len(fake)
    scores, classes = d(torch.cat([x, fake]))
    target = torch.cat([scores.new_ones(k), scores.new_zeros(m)])
    loss = F.binary_cross_entropy_with_logits(scores, target, reduction="none")
    if n_classes:
        labels = torch.cat([y, y_fake])
        loss = loss + F.cross_entropy(classes, labels, reduction="none", ignore_index=NO_LABEL)
    return loss


class _Observed:
    """Reports each step's clipped sum and noisy sum (all parameters, flattened, before the
    division by the expected batch size) to :mod:`synth.privacy.observe`; a listener may
    replace the noisy sum (the neighbour harness couples two runs that way)."""

    observed_module: torch.nn.Module | None = None
    observed_steps: int = 0

    def add_noise(self) -> None:
        super().add_noise()
        if not observe.active():
            return
        params = [p for p in self.params if p.requires_grad]
        statistic = torch.cat([p.summed_grad.reshape(-1) for p in params]).detach().clone()
        noisy = torch.cat([p.grad.reshape(-1) for p in params]).detach().clone()
        out = observe.released(DP_SGD_RELEASE, statistic, noisy, self.max_grad_norm, sigma=self.noise_multiplier,
                               module=self.observed_module, step=self.observed_steps)
        self.observed_steps += 1
        if out is not noisy:
            offset = 0
            for p in params:
                p.grad = out[offset:offset + p.numel()].view_as(p).to(p.grad.dtype).clone()
                offset += p.numel()


class _Optimizer(_Observed, DPOptimizerFastGradientClipping):
    """Opacus' ghost-clipping optimizer, observed."""


class _FlatDistributedOptimizer(_Observed, DistributedDPOptimizerFastGradientClipping):
    """Opacus' distributed ghost-clipping optimizer with its per-parameter all-reduce done as one
    (the same sums, divided by the world size as Opacus does for a mean loss), observed."""

    def reduce_gradients(self) -> None:
        grads = [p.grad for p in self.params if p.requires_grad]
        all_reduce_flat(grads, self.world_size if self.loss_reduction == "mean" else 1)


def private_discriminator(disc: Discriminator, optimizer: torch.optim.Optimizer, sigma: float,
                          max_grad_norm: float, expected_batch: float, noise: torch.Generator, world: int = 1):
    """The ghost-clipping module and the optimizer that clips each row at ``max_grad_norm``,
    adds N(0, σ²C²) from ``noise`` and averages over ``expected_batch`` (the ledger's public N·q).

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
    kind = _FlatDistributedOptimizer if world > 1 else _Optimizer
    dp_optimizer = kind(optimizer, noise_multiplier=sigma, max_grad_norm=max_grad_norm,
                        expected_batch_size=expected_batch / world, loss_reduction="mean", generator=noise)
    dp_optimizer.observed_module = module
    return module, dp_optimizer


def dp_step(module: GradSampleModuleFastGradientClipping, optimizer: DPOptimizerFastGradientClipping,
            x: torch.Tensor, y: torch.Tensor, fake: torch.Tensor, y_fake: torch.Tensor | None,
            n_classes: int) -> None:
    """One charged DP-SGD step on a Poisson batch (possibly empty) and the step's generated rows
    (their number fixed by public quantities, never by ``len(x)``)."""
    optimizer.zero_grad(set_to_none=True)
    if len(x) + len(fake):
        losses = row_losses(module, x, y, fake, y_fake, n_classes)
        DPTensorFastGradientClipping(module, optimizer, losses, "mean").backward()
    else:  # nothing to clip: the sum is zero and the step adds the noise alone
        for p in module.parameters():
            p.grad = torch.zeros_like(p)
    optimizer.step()  # the one charged step for this Poisson batch
