"""The DP AC-GAN training loop.

Only the discriminator reads real rows, and it is trained with Opacus DP-SGD: Poisson sampling
of patients at rate q, per-patient clipping at ``max_grad_norm``, Gaussian noise σ·C, an RDP
accountant hooked to its optimizer. σ is calibrated so that the mechanisms already in the ledger
plus exactly the steps this loop runs meet the target (ε, δ).

Notes
-----
What would void the guarantee: a discriminator step without a Poisson batch behind it, a second
optimizer over the discriminator's parameters, a generator step that updates the discriminator,
a run with more steps than were calibrated, Poisson batches or gradient noise drawn from any
generator but the secret one passed in (torch's global generator is seeded with the user's
``seed``), or a sample rate or averaging batch size computed from the exact number of patients
rather than the ledger's public ``n_patients``; anything public that depends on the secret
batch size: the number of generated rows in a DP step (always the public per-rank batch), where
torch's global (public) stream stands after a step (the step runs inside
:func:`synth.privacy.global_stream.secret_global_stream`), a dropout mask over the batch's rows
(refused under DP). The generator never sees real data: it is
first fitted to the already released noisy tables alone (``pretrain_steps``), then trained
through the (already privatised) discriminator and the same tables; both are post-processing.
Under DP the epoch returned is the one closest to those tables (:mod:`synth.models.checkpoints`), also
post-processing.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from synth.errors import SynthError
from synth.models.checkpoints import CheckpointSelector
from synth.encode.table import Span
from synth.models.marginal_loss import MarginalLoss
from synth.models.poisson import PoissonBatches
from synth.models.dp_step import dp_step, private_discriminator
from synth.models.generator_steps import Draws, GeneratorLoss
from synth.models.generator_steps import generator_step as _generator_step  # looked up here at each call
from synth.models.generator_steps import pretrain_generator as _pretrain_generator
from synth.models import Discriminator, Generator
from synth.models.train_config import (EPOCH_STEPS_CAP, PRETRAIN_BATCH, REGIMES, TrainConfig, default_batch_size,
                                       poisson_rate, resolved)
from synth.privacy.accountant import RDP
from synth.privacy.global_stream import secret_global_stream
from synth.privacy.ledger import Ledger, Mechanism
from synth.distributed.group import SINGLE, Ranks, broadcast_parameters

__all__ = ["TrainConfig", "TrainInputs", "TrainResult", "train_acgan", "default_batch_size", "poisson_rate",
           "REGIMES", "EPOCH_STEPS_CAP", "PRETRAIN_BATCH"]

NO_CLIP = 1e9  # ε = ∞: clipping at this norm never binds


def _private_discriminator(disc: Discriminator, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                           y: torch.Tensor, plan: _Plan, noise: torch.Generator, world: int = 1):
    """Opacus' DP-SGD pieces, wired by hand so that every public number is the ledger's (``plan``'s:
    σ, q, the clipping norm, the expected batch, the steps an epoch): the
    ghost-clipping module and optimizer (:mod:`synth.models.dp_step`) adding N(0, σ²C²) from
    ``noise``, the accountant's Opacus RDP accountant (:meth:`synth.privacy.accountant.Accountant.watch`)
    charged at exactly ``q`` on every ``optimizer.step()``, and
    Poisson batches at rate ``q`` drawn from ``noise`` (:class:`synth.models.poisson.PoissonBatches`:
    Opacus' sampler's draw, one tensor op per step). (``PrivacyEngine.make_private`` would take
    q, and the batch size the noisy sum is averaged over, from the exact number of rows, and
    batches from torch's global generator unless given one.)"""
    module, dp_optimizer = private_discriminator(disc, optimizer, plan.sigma, plan.max_grad_norm,
                                                 plan.expected_batch, noise, world)
    accountant = RDP.watch(dp_optimizer, plan.q)
    loader = PoissonBatches(x, y, plan.q, plan.steps_per_epoch, noise)
    return module, dp_optimizer, loader, accountant


@dataclass
class TrainInputs:
    """What the GAN is trained on. ``x``/``y`` are real patients, one row each (the only real
    data: they reach the discriminator through the Poisson batches alone); everything else is
    public or already a DP release recorded in the ledger (``label_proportions``,
    ``marginals``). ``mask`` (sequences) zeroes generated padding the way real padding is
    zeroed; ``noise_groups`` are the generator's noise groups (:meth:`TableEncoder.noise_groups`)."""

    x: np.ndarray
    y: np.ndarray | None
    spans: list[Span]
    n_classes: int
    label_proportions: list[float]
    marginals: MarginalLoss | None = None
    mask: Callable[[torch.Tensor], torch.Tensor] | None = None
    noise_groups: list[int] | None = None


@dataclass
class TrainResult:
    generator: Generator
    noise_multiplier: float
    sample_rate: float
    steps: int
    summary: dict


# epoch, epochs, the generator's loss, ε so far (the discriminator's loss is on real batches: never shown)
Progress = Callable[[int, int, float, float], None]


def train_acgan(
    inputs: TrainInputs,
    ledger: Ledger,
    config: TrainConfig,
    progress: Progress | None = None,
    noise: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    ranks: Ranks = SINGLE,
) -> TrainResult:
    """Train the AC-GAN on ``device``; append the DP-SGD run to ``ledger``; return the generator (on the CPU).

    Privacy assumption: ``inputs.x``/``inputs.y`` are real patients, one row each; they reach
    only the discriminator through the Poisson batches. ``inputs.label_proportions`` and
    ``inputs.marginals`` must already be DP releases recorded in ``ledger`` (the generator only
    post-processes them). ``noise`` is the secret generator
    (:class:`synth.privacy.randomness.NoiseSource`) for the Poisson batches and the gradient
    noise; None draws a fresh one from OS entropy. The sample rate and batch size come from the
    ledger's public ``n_patients``, never from ``len(x)``. ``noise`` must live on ``device``
    (:meth:`synth.privacy.randomness.NoiseSource.torch_on`); the ledger is the same on every
    device: σ, q and the steps depend on public numbers only.

    Over several processes (``ranks``, :mod:`synth.distributed`), ``x``/``y`` are this rank's
    shard and ``noise`` its own secret stream; the ledger, tables and σ are every rank's. The
    generator's gradients are averaged across ranks, each rank generating its share of a batch.
    """
    device = torch.device(device)
    if noise is None:
        from synth.privacy.randomness import NoiseSource

        noise = NoiseSource().torch_on(device)
    if noise.device.type != device.type:
        raise ValueError(f"the noise generator is on {noise.device}, training on {device}")
    marginals = inputs.marginals
    if marginals is not None:
        marginals.to(device)
    try:
        # torch's device context costs about a third of a small step on the CPU, where tensors
        # are created anyway: entered only for another device
        with torch.device(device) if device.type != "cpu" else contextlib.nullcontext():
            result = _train(inputs, ledger, config, progress, noise, ranks)
    finally:
        if marginals is not None:
            marginals.to("cpu")
    result.generator.to("cpu")
    return result


@dataclass
class _Plan:
    """The run's public numbers: from the ledger's public N, ε and the options only."""

    config: TrainConfig  # resolved: the regime's defaults filled in
    exact: bool  # trained without noise (ε = ∞)
    batch: int  # expected Poisson batch
    q: float
    steps_per_epoch: int
    epochs: int
    steps: int
    sigma: float
    expected_batch: float  # the public N × q: what the noisy sum is averaged over

    @property
    def max_grad_norm(self) -> float:
        """The clipping norm: the option's, or one that never binds without noise (ε = ∞)."""
        return NO_CLIP if self.exact else self.config.max_grad_norm


def _plan(ledger: Ledger, config: TrainConfig) -> _Plan:
    """Batch, sample rate, steps and σ (calibrated so the ledger plus these steps meet the target)."""
    n = ledger.n_patients
    batch = min(config.batch_size or default_batch_size(n), n)  # n is the released N: it may be below a batch
    if batch < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch}")
    q, steps_per_epoch = poisson_rate(n, batch)
    exact = ledger.no_guarantee
    config = resolved(config, exact)
    if config.d_dropout and not exact:  # masks drawn over the step's rows would follow the batch's secret layout
        raise SynthError(f"d_dropout must be 0 under DP (a dropout mask drawn over a batch ties each patient's "
                         f"clipped term to the batch's secret layout), got {config.d_dropout}")
    epochs = config.epochs or math.ceil(REGIMES["no_noise" if exact else "dp"]["steps"] / steps_per_epoch)
    steps = epochs * steps_per_epoch
    sigma = 0.0 if exact else RDP.sigma(ledger.target_epsilon, ledger.accountant_delta, q, steps,
                                        prior=ledger.history())
    return _Plan(config, exact, batch, q, steps_per_epoch, epochs, steps, sigma, n * q)


def _train(inputs: TrainInputs, ledger: Ledger, config: TrainConfig, progress: Progress | None,
           noise: torch.Generator, ranks: Ranks = SINGLE) -> TrainResult:
    """The run: the real rows reach only ``dp_step``, through the Poisson ``loader`` drawn from the
    secret ``noise`` (the module's Notes say what would void the guarantee)."""
    torch.manual_seed(config.seed)  # post-processing only: initialisation and the generator's draws
    plan = _plan(ledger, config)
    config, n_classes, width = plan.config, inputs.n_classes, inputs.x.shape[1]
    labels = torch.as_tensor(inputs.y if inputs.y is not None else np.zeros(len(inputs.x)), dtype=torch.long,
                             device=noise.device)
    rows = torch.as_tensor(inputs.x, dtype=torch.float32, device=noise.device)
    marginals = inputs.marginals if config.marginal_weight else None
    gen = Generator(inputs.spans, width, n_classes, config.noise_dim, config.g_hidden, inputs.noise_groups)
    disc = Discriminator(width, n_classes, config.d_hidden, config.d_dropout)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.5, 0.9))
    broadcast_parameters(gen, ranks)  # the same seed made them already; rank 0's, to be sure
    if ranks.rank:  # each rank generates its own share of every batch (post-processing draws)
        torch.manual_seed(config.seed + 7919 * ranks.rank)
    disc, opt_d, loader, accountant = _private_discriminator(disc, opt_d, rows, labels, plan, noise, ranks.world)
    draw = Draws(config, n_classes, inputs.label_proportions, inputs.spans)
    prior = draw.prior if config.offset_spread else None  # a zero prior adds nothing but ops
    if marginals is not None and config.pretrain_steps:
        _pretrain_generator(gen, marginals, draw, config.pretrain_steps, config.lr_pretrain,
                            math.ceil(PRETRAIN_BATCH / ranks.world), prior, ranks)
    selector = None
    if config.select_checkpoint and marginals is not None:
        selector = CheckpointSelector(marginals, draw.probs, config.noise_dim, n_classes, config.seed + 1)
        selector.score(gen)  # epoch 0: the generator as pretrained
    # ε for the progress line: the curves computed once (the accountant's steps are all at σ, q;
    # checked after the loop)
    curve = None if plan.exact or progress is None else RDP.curve(ledger.history(), plan.sigma, plan.q,
                                                                   ledger.accountant_delta)
    share = math.ceil(plan.batch / ranks.world)  # generated rows per rank in a generator step and a DP step
    mask = inputs.mask or (lambda t: t)
    terms = GeneratorLoss(n_classes, marginals, config.marginal_weight, mask, prior)
    g_loss = math.nan
    for epoch in range(1, plan.epochs + 1):
        for xb, yb in loader:
            # The generated rows: always `share` of them, drawn before the step, so neither
            # their number nor where the public stream stands depends on the secret len(xb).
            z, y_fake = draw(share)
            with torch.no_grad():
                fake = mask(gen(z, y_fake))
            # inputs need no grad (Opacus' hooks still fire); any global draw inside is secret
            with warnings.catch_warnings(), secret_global_stream(noise):
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                dp_step(disc, opt_d, xb, yb, fake, y_fake, n_classes)
            g_loss = _generator_step(gen, disc, opt_g, draw, share, terms, ranks)
        if progress is not None:
            spent = math.inf if plan.exact else curve.at(sum(h[2] for h in accountant.history))
            progress(epoch, plan.epochs, float(g_loss), spent)
        if selector is not None:
            selector.score(gen)
    return _finish(gen, plan, ledger, accountant, selector, marginals, ranks)


def _finish(gen: Generator, plan: _Plan, ledger: Ledger, accountant, selector: CheckpointSelector | None,
            marginals: MarginalLoss | None, ranks: Ranks) -> TrainResult:
    """Check the run against the plan, record it in the ledger, keep the chosen epoch."""
    ran = RDP.steps_seen(accountant, plan.steps, plan.sigma, plan.q)
    ledger.add(Mechanism("dp_sgd:discriminator", plan.sigma, plan.q, ran,
                         "Opacus DP-SGD, Poisson sampling, each row clipped alone (a patient; a fixed number "
                         "of generated rows)",
                         {"max_grad_norm": None if plan.exact else plan.config.max_grad_norm,
                          "expected_batch_size": plan.batch, "epochs": plan.epochs}))
    chosen = None if selector is None else selector.restore(gen)
    summary = {"config": asdict(plan.config) | {"batch_size": plan.batch, "epochs": plan.epochs},
               "steps": ran, "noise_multiplier": plan.sigma, "processes": ranks.world,
               "sample_rate": plan.q,
               "tables": None if marginals is None else marginals.matched,
               "checkpoint": None if chosen is None else {
                   "epoch": chosen, "of": plan.epochs, "table_loss": [round(s, 6) for s in selector.scores]}}
    # Not kept: the discriminator's losses (computed on real batches) and the training time.
    gen.eval()
    return TrainResult(gen, plan.sigma, plan.q, ran, summary)
