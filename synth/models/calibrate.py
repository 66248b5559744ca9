"""A declared binary outcome's rate in each arm, pinned after training: post-processing only.

When the declared analysis's arm is the AC-GAN's class, the fit has released the arm × outcome
table (:mod:`synth.privacy.analysis_tables`). Two steps turn it into the synthetic data's rates:

1. :func:`shrunk_rates`: each arm's log odds ratio against the first arm, as released, is shrunk
   towards 0 by its own DP noise (positive-part James–Stein: the factor 1 − SE²/d², where SE² =
   σ² Σ 1/c² is the delta-method variance the Gaussian noise σ gives the log odds ratio on the
   noisy cells c); the rates are then set so that the pooled rate is the released one. An
   association the noise could have made alone goes to 0; a clear one is barely touched. The
   synthetic data's CI is as narrow as a trial of that size, so an unshrunk noisy association
   reads as a significant effect where the trial has none (bench/RESULTS.md, issue 46).
2. :func:`calibrate` sets the generator's per-class offsets of that outcome's logits until the
   outcome's rate among its categories, over generated rows of each class, equals the target.

Both read only the released table, its σ and the generator: no real data. What would void the
guarantee: a target computed from anything but released counts, or offsets fitted on real rows.
The draws here use a generator seeded with the public ``seed`` (post-processing).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.special import expit

from synth.models.networks import Generator

__all__ = ["shrunk_rates", "calibrate", "CALIBRATION_ROWS"]

CALIBRATION_ROWS = 20_000  # generated rows per class and iteration
ITERATIONS = 8


def shrunk_rates(counts: np.ndarray, sigma: float, floor: float = 0.5) -> np.ndarray:
    """(arms, 2) noisy counts of (not the outcome, the outcome) and their noise σ → each arm's
    rate of the outcome, its log odds ratio against arm 0 shrunk by its DP noise, the pooled
    rate kept."""
    c = np.clip(np.asarray(counts, dtype=float), floor, None)
    n = c.sum(axis=1)
    log_odds = np.log(c[:, 1]) - np.log(c[:, 0])
    d = log_odds - log_odds[0]
    se2 = sigma ** 2 * ((1 / c ** 2).sum(axis=1) + (1 / c[0] ** 2).sum())
    factor = np.where(d != 0, np.clip(1 - se2 / np.where(d != 0, d ** 2, 1), 0, 1), 0.0)
    factor[0] = 1.0
    shrunk = factor * d
    pooled = c[:, 1].sum() / n.sum()

    def gap(a: float) -> float:
        return float((n * expit(a + shrunk)).sum() / n.sum() - pooled)

    a = brentq(gap, -40, 40) if 0 < pooled < 1 else (math.inf if pooled >= 1 else -math.inf)
    return expit(a + shrunk)


def calibrate(gen: Generator, targets: list[tuple[int, np.ndarray]], seed: int) -> None:
    """Set ``gen.class_offsets`` so that, for each (start column, (classes, 2) rates of the
    outcome's first two cells) in ``targets``, the generator's softmax over those two cells
    averages to the target rate in each class. Post-processing: generated rows only."""
    if not targets or gen.embed is None:
        return
    rng = torch.Generator().manual_seed(int(seed) + 104_729)
    offsets = gen.class_offsets.detach().clone().cpu()
    device = gen.out.weight.device
    gen.class_offsets.zero_()
    for _ in range(ITERATIONS):
        for c in range(gen.n_classes):
            z = torch.randn(CALIBRATION_ROWS, gen.noise_dim, generator=rng)
            y = torch.full((CALIBRATION_ROWS,), c, dtype=torch.long)
            with torch.inference_mode():
                raw = gen.logits(z.to(device), y.to(device)).cpu() + offsets[c]
            for start, rates in targets:
                two = torch.softmax(raw[:, start:start + 2], dim=1).mean(0).double().numpy()
                have = float(np.clip(two[1] / two.sum(), 1e-6, 1 - 1e-6))
                want = float(np.clip(rates[c], 1e-6, 1 - 1e-6))
                # move the outcome's logit by the gap in log odds (the other cell stays)
                offsets[c, start + 1] += float(np.log(want / (1 - want)) - np.log(have / (1 - have)))
    gen.class_offsets.copy_(offsets.to(gen.class_offsets.device))
