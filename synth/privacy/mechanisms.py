"""DP primitives on real data: Gaussian counts, category discovery, bounds.

Each function takes the noise multiplier σ in units of its L2 sensitivity, which is 1 because
each patient holds one value per column (one row per patient). The caller records the release
in the :class:`~synth.privacy.ledger.Ledger` as ``Mechanism(σ, q=1, steps)``.

Notes
-----
The guarantee is void if a patient can contribute more than one value to one call (pass one
value per patient), if the output is used before it is recorded in the ledger, or if σ = 0 is
used outside an ε = ∞ run. Noise comes from NumPy's PCG64 generator: statistically sound, not a
cryptographically secure source.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from synth.errors import SynthError
from synth.privacy import observe

__all__ = ["noisy_counts", "discover_categories", "dp_bounds", "BOUNDS_GRID", "BOUNDS_RELEASES"]


def _gaussian(counts: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    if sigma == 0:
        return counts.copy()
    return counts + rng.normal(0.0, sigma, size=counts.shape)


def noisy_counts(counts: np.ndarray, sigma: float, rng: np.random.Generator, name: str = "counts") -> np.ndarray:
    """Counts plus N(0, σ²) noise each (L2 sensitivity 1: a patient is in one cell, or spreads
    weight 1 over cells). Reported to :mod:`synth.privacy.observe` under ``name``."""
    counts = np.asarray(counts, dtype=float)
    return observe.released(name, counts, _gaussian(counts, sigma, rng), 1.0, sigma=sigma)


def discover_categories(
    keys: np.ndarray, sigma: float, delta_column: float, rng: np.random.Generator
) -> list[str]:
    """The values whose noisy count clears a threshold, sorted (Gaussian partition selection).

    A value held by one patient clears τ = 1 + σ·Φ⁻¹(1 − δ_column) with probability at most
    δ_column; values that clear it are released by a Gaussian mechanism on their counts.
    With σ = 0 (ε = ∞) every observed value is kept.
    """
    values, counts = np.unique(np.asarray(keys, dtype=object).astype(str), return_counts=True)
    if sigma == 0:
        return sorted(values.tolist())
    tau = 1.0 + sigma * NormalDist().inv_cdf(1.0 - delta_column)
    noisy = _gaussian(counts, sigma, rng)
    kept = sorted(v for v, c in zip(values.tolist(), noisy) if c > tau)
    # the statistic is a count per observed value: a new patient may bring a value of their own
    return observe.released("categories", dict(zip(values.tolist(), counts.tolist())), kept, 1.0, sigma=sigma)


def _grid() -> np.ndarray:
    mags = [m * 10.0**k for k in range(-3, 11) for m in (1, 2, 5)]
    return np.array(sorted({0.0, *mags, *(-m for m in mags)}))


BOUNDS_GRID = _grid()
BOUNDS_RELEASES = 2  # a coarse histogram on BOUNDS_GRID, then a fine one inside it
_FINE_BINS = 64


_EMPTY_BIN_FALSE_KEEP = 0.01  # chance that some empty bin's noise survives the threshold
_FINE_MIN_SHARE = 0.5  # the fine histogram refines the bounds only if it keeps this share of the coarse mass


def _kept(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Post-processing: noisy bins under z·σ zeroed (an empty bin survives with chance 1%/bins)."""
    z = NormalDist().inv_cdf(1 - _EMPTY_BIN_FALSE_KEEP / len(noisy))
    return np.where(noisy >= z * sigma, noisy, 0.0)


def _quantile_edges(edges: np.ndarray, kept: np.ndarray, q_lo: float, q_hi: float) -> tuple[float, float]:
    cdf = np.cumsum(kept) / kept.sum()
    i_lo = int(np.searchsorted(cdf, q_lo, side="left"))
    i_hi = int(np.searchsorted(cdf, q_hi, side="left"))
    i_lo, i_hi = min(i_lo, len(kept) - 1), min(i_hi, len(kept) - 1)
    return float(edges[i_lo]), float(edges[i_hi + 1])


def dp_bounds(
    values: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    column: str,
    q_lo: float = 0.005,
    q_hi: float = 0.995,
) -> tuple[float, float]:
    """DP lower/upper bounds of a numeric column from two Gaussian histograms.

    First a histogram over a fixed, data-independent grid of signed 1-2-5 magnitudes
    (±1e-3 … ±5e10) locates the ``q_lo``/``q_hi`` quantiles coarsely; then a 64-bin histogram
    inside that coarse range (of the values inside it) refines them, unless the fine bins kept
    hold less than half the coarse mass (then a point mass, such as many creatinine values of
    exactly 1.0, would be all that is left and the range would shrink to one fine bin). Noisy
    bins under z·σ, with z such that an empty bin survives with probability 1%/bins, count as
    empty. Two releases of sensitivity 1 each: record ``steps=BOUNDS_RELEASES``. Values outside
    the result are clipped by the encoder. With σ = 0 (ε = ∞) the exact min and max are returned.
    """
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if sigma == 0:
        if len(values) == 0:
            raise SynthError(f"column '{column}' has no values: give range_min/range_max in the metadata")
        lo, hi = float(values.min()), float(values.max())
        return (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)
    edges = BOUNDS_GRID
    clipped = np.clip(values, edges[0], edges[-1] - 1e-9)
    coarse = _kept(noisy_counts(np.histogram(clipped, bins=edges)[0], sigma, rng, f"bounds:{column}:coarse"), sigma)
    if coarse.sum() <= 0:
        raise SynthError(
            f"column '{column}': too few patients to estimate its bounds under DP; "
            "give range_min/range_max in the metadata"
        )
    lo, hi = _quantile_edges(edges, coarse, q_lo, q_hi)
    fine_edges = np.linspace(lo, hi, _FINE_BINS + 1)
    # Released (and charged) whether or not it is used.
    inside = values[(values >= lo) & (values <= hi)]  # clipped into the end bins, the rest would swamp them
    fine = _kept(noisy_counts(np.histogram(inside, bins=fine_edges)[0], sigma, rng, f"bounds:{column}:fine"), sigma)
    if fine.sum() < _FINE_MIN_SHARE * coarse.sum():
        return lo, hi  # most fine bins drowned in noise: the few kept would narrow the range to a point mass
    return _quantile_edges(fine_edges, fine, q_lo, q_hi)
