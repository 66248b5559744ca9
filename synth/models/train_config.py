"""Training options and the public numbers a DP-SGD run is planned from.

Everything here is public: the options the user gives, the regime's defaults (chosen from ε,
never from the data) and the batch size, sample rate and steps derived from the ledger's
public ``n_patients``. What would void the guarantee: a default or a rate computed from the
exact number of patients (``len`` of the real rows) instead of the released or stated count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from opacus.utils.uniform_sampler import UniformWithReplacementSampler

__all__ = ["TrainConfig", "REGIMES", "resolved", "default_batch_size", "poisson_rate", "EPOCH_STEPS_CAP",
           "PRETRAIN_BATCH"]

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


def resolved(config: TrainConfig, exact: bool) -> TrainConfig:
    """``config`` with each ``None`` that the training loop reads replaced by the regime's default
    (``exact``: trained without noise)."""
    regime = REGIMES["no_noise" if exact else "dp"]
    return replace(config, lr_g=regime["lr_g"] if config.lr_g is None else config.lr_g,
                   d_dropout=regime["d_dropout"] if config.d_dropout is None else config.d_dropout,
                   pretrain_steps=(regime["pretrain_steps"] if config.pretrain_steps is None
                                   else config.pretrain_steps),
                   marginal_weight=(regime["marginal_weight"] if config.marginal_weight is None
                                    else config.marginal_weight),
                   select_checkpoint=(regime["select_checkpoint"] if config.select_checkpoint is None
                                      else bool(config.select_checkpoint)),
                   offset_spread=regime["offset_spread"] if config.offset_spread is None else config.offset_spread)
