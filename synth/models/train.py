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
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from opacus.utils.uniform_sampler import UniformWithReplacementSampler

from synth.errors import SynthError
from synth.models.checkpoints import CheckpointSelector
from synth.encode.table import Span
from synth.models.marginal_loss import MarginalLoss
from synth.models.poisson import PoissonBatches
from synth.models.within_bin import offset_spread
from synth.models.dp_step import dp_step, private_discriminator
from synth.models import Discriminator, Generator
from synth.privacy.global_stream import secret_global_stream
from synth.privacy.accountant import RDP
from synth.privacy.ledger import Ledger, Mechanism
from synth.distributed.group import SINGLE, Ranks, average_gradients, broadcast_parameters

__all__ = ["TrainConfig", "TrainResult", "train_acgan", "default_batch_size", "poisson_rate"]

NO_CLIP = 1e9  # ε = ∞: clipping at this norm never binds


EPOCH_STEPS_CAP = 300  # large N: the default batch grows so that one epoch is at most this many steps
PRETRAIN_BATCH = 128  # generated rows per pretraining step (no real data: independent of N; bench/RESULTS.md)


def default_batch_size(n: int) -> int:
    """Expected Poisson batch: about a tenth of the patients, between 8 and 256, never above N;
    past 256 × :data:`EPOCH_STEPS_CAP` patients, N / EPOCH_STEPS_CAP, so the default run stays
    about 300 DP steps at any N (bigger batches, less noise per step). ``n`` is public: the
    ledger's released or stated count."""
    small = max(8, min(256, round(n / 10)))
    return int(min(n, max(small, math.ceil(n / EPOCH_STEPS_CAP))))


def poisson_rate(n: int, batch: int) -> tuple[float, int]:
    """(q, steps per epoch) for an expected batch of ``batch`` among ``n`` public patients:
    q = 1/⌈N/B⌉, and as many steps per epoch as Opacus' Poisson sampler runs at that q."""
    q = 1.0 / max(1, math.ceil(n / batch))
    return q, len(UniformWithReplacementSampler(num_samples=1, sample_rate=q))


def _private_discriminator(disc: Discriminator, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                           y: torch.Tensor, q: float, steps_per_epoch: int, sigma: float, max_grad_norm: float,
                           expected_batch: float, noise: torch.Generator, world: int = 1):
    """Opacus' DP-SGD pieces, wired by hand so that every public number is the ledger's: the
    ghost-clipping module and optimizer (:mod:`synth.models.dp_step`) adding N(0, σ²C²) from
    ``noise``, the accountant's Opacus RDP accountant (:meth:`synth.privacy.accountant.Accountant.watch`)
    charged at exactly ``q`` on every ``optimizer.step()``, and
    Poisson batches at rate ``q`` drawn from ``noise`` (:class:`synth.models.poisson.PoissonBatches`:
    Opacus' sampler's draw, one tensor op per step). (``PrivacyEngine.make_private`` would take
    q, and the batch size the noisy sum is averaged over, from the exact number of rows, and
    batches from torch's global generator unless given one.)"""
    module, dp_optimizer = private_discriminator(disc, optimizer, sigma, max_grad_norm, expected_batch, noise, world)
    accountant = RDP.watch(dp_optimizer, q)
    loader = PoissonBatches(x, y, q, steps_per_epoch, noise)
    return module, dp_optimizer, loader, accountant


# Defaults chosen once per regime, from ε (which is public), never from the data (bench/RESULTS.md
# logs the runs behind them). Under DP every step costs budget, so fewer, less noisy steps win,
# and the noise already regularises the discriminator. Under DP the generator is first fitted to
# the noisy tables (free), and the noisy discriminator then only fine-tunes it (small lr_g): at
# full speed it washed out the label relation the tables carry. Without noise the GAN keeps
# improving for longer and its discriminator needs dropout against mode dropping. Under DP the
# epoch closest to the noisy tables is kept (issue #5 item 42); without noise, the last.
REGIMES = {
    "dp": {"steps": 300, "lr_g": 2e-5, "d_dropout": 0.0, "marginal_weight": 10.0, "pretrain_steps": 1000,
           "select_checkpoint": True, "offset_spread": 0.0},
    "no_noise": {"steps": 3000, "lr_g": 5e-4, "d_dropout": 0.5, "marginal_weight": 10.0, "pretrain_steps": 0,
                 "select_checkpoint": False, "offset_spread": 0.0},
}


@dataclass
class TrainConfig:
    """Training options; ``None`` takes the regime's default from REGIMES (or from N)."""

    epochs: int | None = None  # None → about REGIMES[regime]["steps"] discriminator steps
    batch_size: int | None = None  # expected Poisson batch; None → default_batch_size(N)
    lr_d: float = 5e-4
    lr_g: float | None = None
    max_grad_norm: float = 1.0
    noise_dim: int = 64
    g_hidden: int = 128
    d_hidden: int = 128
    d_dropout: float | None = None
    marginal_weight: float | None = None  # weight of the marginal-matching loss (0: no tables, no loss)
    marginal_share: float | None = None  # share of ε for the marginal tables (None: MARGINAL_SHARE)
    analysis_share: float | None = None  # of which the declared analysis's tables (None: ANALYSIS_SHARE)
    pair_tables: int | None = None  # DP-chosen two-way tables (None: columns − 1; 0: none)
    independence: float | None = None  # weight of within-label independence of pairs no table links (None: 0, off)
    refine_groups: bool | None = None  # also match grouped label tables at full resolution (None: at <= 4 groups)
    smooth_tables: bool = False  # smooth ordered bins of noisy one-column tables (SURE; items 53, 55: off by default)
    pretrain_steps: int | None = None  # generator-only steps on the marginal loss before the GAN
    lr_pretrain: float = 1e-3
    select_checkpoint: bool | None = None  # keep the epoch closest to the released tables (needs tables)
    offset_spread: float | None = None  # weight of the within-bin spread prior (synth.models.within_bin)
    seed: int = 0


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
    x: np.ndarray,
    y: np.ndarray | None,
    spans: list[Span],
    n_classes: int,
    label_proportions: list[float],
    ledger: Ledger,
    config: TrainConfig,
    progress: Progress | None = None,
    marginals: MarginalLoss | None = None,
    mask: Callable[[torch.Tensor], torch.Tensor] | None = None,
    noise_groups: list[int] | None = None,
    noise: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    ranks: Ranks = SINGLE,
) -> TrainResult:
    """Train the AC-GAN on ``device``; append the DP-SGD run to ``ledger``; return the generator (on the CPU).

    Privacy assumption: ``x``/``y`` are real patients, one row each; they reach only the
    discriminator through the Poisson batches. ``label_proportions`` and ``marginals`` must
    already be DP releases recorded in ``ledger`` (the generator only post-processes them).
    ``noise`` is the secret generator (:class:`synth.privacy.randomness.NoiseSource`) for the
    Poisson batches and the gradient noise; None draws a fresh one from OS entropy. The sample
    rate and batch size come from the ledger's public ``n_patients``, never from ``len(x)``.
    ``mask`` (sequences) zeroes generated padding the way real padding is zeroed. ``noise`` must
    live on ``device`` (:meth:`synth.privacy.randomness.NoiseSource.torch_on`); the ledger is the
    same on every device: σ, q and the steps depend on public numbers only.

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
    if marginals is not None:
        marginals.to(device)
    try:
        # torch's device context costs about a third of a small step on the CPU, where tensors
        # are created anyway: entered only for another device
        with torch.device(device) if device.type != "cpu" else contextlib.nullcontext():
            result = _train(x, y, spans, n_classes, label_proportions, ledger, config, progress, marginals, mask,
                            noise_groups, noise, ranks)
    finally:
        if marginals is not None:
            marginals.to("cpu")
    result.generator.to("cpu")
    return result


def _train(x, y, spans, n_classes, label_proportions, ledger, config, progress, marginals, mask, noise_groups,
           noise, ranks: Ranks = SINGLE) -> TrainResult:
    torch.manual_seed(config.seed)  # post-processing only: initialisation and the generator's draws
    n, width = ledger.n_patients, x.shape[1]
    batch = min(config.batch_size or default_batch_size(n), n)  # n is the released N: it may be below a batch
    if batch < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch}")
    q, steps_per_epoch = poisson_rate(n, batch)
    labels = torch.as_tensor(y if y is not None else np.zeros(len(x)), dtype=torch.long, device=noise.device)
    rows = torch.as_tensor(x, dtype=torch.float32, device=noise.device)
    exact = ledger.no_guarantee
    regime = REGIMES["no_noise" if exact else "dp"]
    config = replace(config, lr_g=regime["lr_g"] if config.lr_g is None else config.lr_g,
                     d_dropout=regime["d_dropout"] if config.d_dropout is None else config.d_dropout,
                     pretrain_steps=(regime["pretrain_steps"] if config.pretrain_steps is None
                                     else config.pretrain_steps),
                     marginal_weight=(regime["marginal_weight"] if config.marginal_weight is None
                                      else config.marginal_weight),
                     select_checkpoint=(regime["select_checkpoint"] if config.select_checkpoint is None
                                        else bool(config.select_checkpoint)),
                     offset_spread=regime["offset_spread"] if config.offset_spread is None else config.offset_spread)
    if not config.marginal_weight:
        marginals = None
    if config.d_dropout and not exact:  # masks drawn over the step's rows would follow the batch's secret layout
        raise SynthError(f"d_dropout must be 0 under DP (a dropout mask drawn over a batch ties each patient's "
                         f"clipped term to the batch's secret layout), got {config.d_dropout}")
    epochs = config.epochs or math.ceil(regime["steps"] / steps_per_epoch)
    steps = epochs * steps_per_epoch
    sigma = 0.0 if exact else RDP.sigma(ledger.target_epsilon, ledger.accountant_delta, q, steps,
                                        prior=ledger.history())

    gen = Generator(spans, width, n_classes, config.noise_dim, config.g_hidden, noise_groups)
    disc = Discriminator(width, n_classes, config.d_hidden, config.d_dropout)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(0.5, 0.9))
    broadcast_parameters(gen, ranks)  # the same seed made them already; rank 0's, to be sure
    if ranks.rank:  # each rank generates its own share of every batch (post-processing draws)
        torch.manual_seed(config.seed + 7919 * ranks.rank)
    disc, opt_d, loader, accountant = _private_discriminator(
        disc, opt_d, rows, labels, q, steps_per_epoch, sigma, NO_CLIP if exact else config.max_grad_norm, n * q,
        noise, ranks.world)
    share = math.ceil(batch / ranks.world)  # generated rows per rank in a generator step and a DP step
    probs = torch.as_tensor(label_proportions if n_classes else [1.0], dtype=torch.float32)

    def draw(k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(k, config.noise_dim)
        if not n_classes:
            return z, None
        return z, (torch.multinomial(probs, k, replacement=True) if k else torch.zeros(0, dtype=torch.long))

    mask = mask or (lambda t: t)
    tanh_columns = torch.as_tensor([s.start for s in spans if s.activation == "tanh"], dtype=torch.long)

    def prior(raw: torch.Tensor) -> torch.Tensor:  # post-processing: the generator's output only
        return config.offset_spread * offset_spread(raw, tanh_columns) if config.offset_spread else raw.new_zeros(())
    g_loss = math.nan
    if marginals is not None and config.pretrain_steps:
        _pretrain_generator(gen, marginals, draw, config.pretrain_steps, config.lr_pretrain,
                            math.ceil(PRETRAIN_BATCH / ranks.world), prior, ranks)
    selector = None
    if config.select_checkpoint and marginals is not None:
        selector = CheckpointSelector(marginals, probs, config.noise_dim, n_classes, config.seed + 1)
        selector.score(gen)  # epoch 0: the generator as pretrained
    # ε for the progress line: the curves computed once (the accountant's steps are all at σ, q;
    # checked after the loop)
    curve = None if exact or progress is None else RDP.curve(ledger.history(), sigma, q, ledger.accountant_delta)
    for epoch in range(1, epochs + 1):
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
            g_loss = _generator_step(gen, disc, opt_g, draw, share, n_classes,
                                     marginals, config.marginal_weight, mask, prior, ranks)
        if progress is not None:
            spent = math.inf if exact else curve.at(sum(h[2] for h in accountant.history))
            progress(epoch, epochs, g_loss, spent)
        if selector is not None:
            selector.score(gen)

    ran = RDP.steps_seen(accountant, steps, sigma, q)
    ledger.add(Mechanism("dp_sgd:discriminator", sigma, q, ran,
                         "Opacus DP-SGD, Poisson sampling, each row clipped alone (a patient; a fixed number "
                         "of generated rows)",
                         {"max_grad_norm": None if exact else config.max_grad_norm, "expected_batch_size": batch,
                          "epochs": epochs}))
    chosen = None if selector is None else selector.restore(gen)
    summary = {"config": asdict(config) | {"batch_size": batch, "epochs": epochs},
               "steps": ran, "noise_multiplier": sigma, "processes": ranks.world,
               "sample_rate": q,
               "tables": None if marginals is None else marginals.matched,
               "checkpoint": None if chosen is None else {
                   "epoch": chosen, "of": epochs, "table_loss": [round(s, 6) for s in selector.scores]}}
    # Not kept: the discriminator's losses (computed on real batches) and the training time.
    gen.eval()
    return TrainResult(gen, sigma, q, ran, summary)


def _pretrain_generator(gen: Generator, marginals: MarginalLoss, draw, steps: int, lr: float,
                        batch: int, prior=None, ranks: Ranks = SINGLE) -> None:
    """Fit the generator to the released tables alone (post-processing: no real data, no charge)."""
    opt = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.9))
    for _ in range(steps):
        z, y_fake = draw(batch)
        raw = gen.logits(z, y_fake)
        loss = marginals(raw, y_fake) + (prior(raw) if prior is not None else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(gen, ranks)
        opt.step()


def _generator_step(gen, disc, opt_g, draw, batch: int, n_classes: int,
                    marginals: MarginalLoss | None = None, weight: float = 0.0, mask=None, prior=None,
                    ranks: Ranks = SINGLE) -> float:
    """One generator update through the discriminator: no per-sample gradients, no charge.

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
        s_fake, c_fake = disc(mask(fake) if mask is not None else fake)
        loss = F.binary_cross_entropy_with_logits(s_fake, torch.ones_like(s_fake))
        if n_classes:
            loss = loss + F.cross_entropy(c_fake, y_fake)
        if marginals is not None:
            loss = loss + weight * marginals(raw, y_fake)
        if prior is not None:
            loss = loss + prior(raw)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(gen, ranks)
        opt_g.step()
    finally:
        for p in disc.parameters():
            p.requires_grad_(True)
        disc.enable_hooks()
    return loss.item()
