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

__all__ = ["shrunk_rates", "calibrate", "calibrate_means", "CALIBRATION_ROWS"]

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


def _bin_values(raw: torch.Tensor, block, decode=None) -> torch.Tensor:
    """(rows, bins): the value of 2u − 1 each row would take in each bin (its bin plus its
    within-bin offset; u on the column's [0, 1] scale), after ``decode`` (u → the u of the value
    written to the CSV, e.g. rounded to an integer) when given."""
    w = block.width
    offset = (torch.tanh(raw[:, block.start + w]) + 1) / 2
    u = (torch.arange(w, dtype=raw.dtype)[None, :] + offset[:, None]) / w
    if decode is not None:
        u = torch.as_tensor(decode(u.numpy()), dtype=raw.dtype)
    return 2 * u - 1


def _mean_at(raw: torch.Tensor, block, offsets: torch.Tensor, tilt: float, values: torch.Tensor | None = None
             ) -> float:
    """The generated mean of 2u − 1 (``values``: :func:`_bin_values`) over rows weighted by
    P(the value is present), with the bins' logits tilted by ``tilt`` × (bin index / bins)."""
    w = block.width
    values = _bin_values(raw, block) if values is None else values
    ramp = torch.arange(w, dtype=raw.dtype) / w
    p = torch.softmax(raw[:, block.start:block.start + w] + offsets[block.start:block.start + w] + tilt * ramp, dim=1)
    present = (torch.ones(len(raw), dtype=raw.dtype) if block.missing is None else
               torch.softmax(raw[:, block.missing:block.missing + 2] + offsets[block.missing:block.missing + 2],
                             dim=1)[:, 0])
    return float(((p * values).sum(dim=1) * present).sum() / present.sum().clamp_min(1e-9))


def calibrate_means(gen: Generator, targets: list[tuple[object, np.ndarray, np.ndarray]], seed: int,
                    decoders: dict | None = None) -> None:
    """For each (numerical outcome's cell block, each class's target mean of 2u − 1, each class's
    weight) in ``targets``, tilt the generator's bin logits in that class (an exponential tilt:
    the least change of the bins' distribution that moves its mean) until the generated mean is
    the target; a class of weight 0 is left alone. ``decoders`` maps a column to its decoding of
    u (the value written, e.g. rounded, back on the [0, 1] scale): the mean pinned is that of the
    values sampled, not of the generator's continuous output. Post-processing: generated rows only."""
    if not targets or gen.embed is None:
        return
    decoders = decoders or {}
    rng = torch.Generator().manual_seed(int(seed) + 130_363)
    device = gen.out.weight.device
    offsets = gen.class_offsets.detach().clone().cpu()
    for c in range(gen.n_classes):
        z = torch.randn(CALIBRATION_ROWS, gen.noise_dim, generator=rng)
        y = torch.full((CALIBRATION_ROWS,), c, dtype=torch.long)
        with torch.inference_mode():
            raw = gen.logits(z.to(device), y.to(device)).cpu().double() - gen.class_offsets[c].cpu().double()
        for block, means, weights in targets:
            if not weights[c] > 0 or not np.isfinite(means[c]):
                continue
            want = float(np.clip(means[c], -0.999, 0.999))
            row = offsets[c].double()
            values = _bin_values(raw, block, decoders.get(block.column))
            gap = lambda t: _mean_at(raw, block, row, t, values) - want  # noqa: E731 - increasing in t
            low, high = -60.0, 60.0
            if gap(low) > 0 or gap(high) < 0:  # out of reach: as far as the bins go
                tilt = low if gap(low) > 0 else high
            else:
                tilt = brentq(gap, low, high, xtol=1e-6)
            ramp = torch.arange(block.width, dtype=offsets.dtype) / block.width
            offsets[c, block.start:block.start + block.width] += tilt * ramp
    gen.class_offsets.copy_(offsets.to(gen.class_offsets.device))
