"""A numerical outcome's arm means from the sums and the arm × outcome table, combined by their
noise (synth.models.mean_targets), against a brute-force simulation of the two releases."""

import numpy as np
import pytest

from synth.encode.table import CellBlock
from synth.models.mean_targets import arm_means, combined_means, table_means
from synth.privacy.analysis_tables import AnalysisMean
from synth.privacy.marginals import MarginalTable

BINS = 10


def _trial(rng: np.random.Generator, sizes=(120, 80)) -> list[np.ndarray]:
    """Each arm's values of 2u − 1 (the second arm shifted up)."""
    return [np.clip(rng.normal(-0.2 + 0.3 * k, 0.4, n), -1, 0.999) for k, n in enumerate(sizes)]


def _bins(values: np.ndarray) -> np.ndarray:
    return np.bincount(((values + 1) / 2 * BINS).astype(int), minlength=BINS).astype(float)


def test_the_combination_s_variance_is_the_simulated_one_and_below_either_release():
    rng = np.random.default_rng(0)
    arms = _trial(rng)
    n = np.array([len(a) for a in arms], dtype=float)
    sums, counts = np.array([a.sum() for a in arms]), np.stack([_bins(a) for a in arms])
    sigma_s, sigma_t = 6.0, 4.0
    draws = 20_000
    noisy_sums = sums + rng.normal(0, sigma_s, (draws, 2))
    noisy_counts = counts + rng.normal(0, sigma_t, (draws, 2, BINS))
    out = np.array([combined_means(noisy_sums[i] / n, sigma_s ** 2 / n ** 2,
                                   *table_means(noisy_counts[i], sigma_t, n))[0] for i in range(draws)])
    _, var_t = table_means(counts, sigma_t, n)
    _, var = combined_means(sums / n, sigma_s ** 2 / n ** 2, np.zeros(2), var_t)
    assert out.var(axis=0) == pytest.approx(var, rel=0.05)  # the stated variance is the simulated one
    assert (var < sigma_s ** 2 / n ** 2).all() and (var < var_t).all()
    # the same brute force for each release alone
    centres = (np.arange(BINS) + 0.5) / BINS * 2 - 1
    assert (noisy_counts @ centres / n).var(axis=0) == pytest.approx(var_t, rel=0.05)
    # unbiased for its weights' mix of the exact mean and the bins' centre mean
    w_s = (n ** 2 / sigma_s ** 2) / (n ** 2 / sigma_s ** 2 + 1 / var_t)
    expected = w_s * sums / n + (1 - w_s) * (counts @ centres) / n
    assert out.mean(axis=0) == pytest.approx(expected, abs=4 * np.sqrt(var / draws).max())


def test_an_exact_or_missing_release_decides_alone():
    a, b = np.array([0.1, 0.2]), np.array([0.3, 0.4])
    assert combined_means(a, np.zeros(2), b, np.ones(2))[0] == pytest.approx(a)
    assert combined_means(a, np.ones(2), b, np.zeros(2))[0] == pytest.approx(b)
    mean, var = combined_means(a, np.ones(2), np.array([np.nan, 0.4]), np.array([np.nan, 1.0]))
    assert mean == pytest.approx([0.1, 0.3]) and var == pytest.approx([1.0, 0.5])


def test_arm_means_reads_each_arm_s_row_of_the_released_table():
    rng = np.random.default_rng(1)
    arms = _trial(rng)
    n = np.array([len(a) for a in arms], dtype=float)
    block = CellBlock("y", 0, BINS, None, ordered=True)
    table = MarginalTable((block,), np.stack([_bins(a) for a in arms]), totals=n, sigma=1e-6)
    mean = AnalysisMean(block, None, np.array([a.sum() for a in arms]), 1e-6)
    target, weight = arm_means(mean, [table])
    assert weight == pytest.approx(n / n.sum())
    centres = (np.arange(BINS) + 0.5) / BINS * 2 - 1
    half = [(a.mean() + _bins(a) @ centres / len(a)) / 2 for a in arms]  # equal variances: the average
    assert target == pytest.approx(half, abs=1e-3)
    # a table of noise far above the sums' is all but ignored
    noisy = MarginalTable((block,), table.counts, totals=n, sigma=1e3)
    assert arm_means(AnalysisMean(block, None, mean.sums, 1.0), [noisy])[0] == pytest.approx(
        [a.mean() for a in arms], abs=1e-3)
