"""Smoothing noisy ordered histograms by Stein's unbiased risk: the risk is unbiased, its fast
divergence equals a finite-difference one, exact tables are untouched, and it pays where the
column is smooth without costing much where it is not."""

import numpy as np
import pytest

from synth.encode.table import CellBlock
from synth.privacy.marginals import MarginalTable
from synth.release.pair_tables import TablePlan, release_tables
from synth.privacy.smoothing import LAMBDAS, simplex_projection, smooth_row, sure_risk
from tests.conftest import encoded_trial

SMOOTH_COUNTS = np.array([4, 10, 22, 36, 44, 40, 30, 18, 10, 6, 30], dtype=float)  # 10 bins, then "missing"
SPIKE_COUNTS = np.array([200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50], dtype=float)
BINS = CellBlock("x", 0, 10, missing=10, ordered=True)


def _divergence_by_differences(y, sigma, total, ordered, lam, h=1e-6):
    f = lambda v: sure_risk(v, sigma, total, ordered, lam)[1]  # noqa: E731
    return sum((f(y + h * e)[i] - f(y - h * e)[i]) / (2 * h) for i, e in enumerate(np.eye(len(y))))


@pytest.mark.parametrize("lam", [0.0, 3.0, 100.0])
def test_sure_divergence_equals_finite_differences(lam):
    rng = np.random.default_rng(1)
    y = SMOOTH_COUNTS + rng.normal(0, 15, len(SMOOTH_COUNTS))
    sigma, total = 15.0, SMOOTH_COUNTS.sum()
    risk, f = sure_risk(y, sigma, total, 10, lam)
    divergence = (risk - np.sum((y - f) ** 2) + len(y) * sigma ** 2) / (2 * sigma ** 2)
    assert divergence == pytest.approx(_divergence_by_differences(y, sigma, total, 10, lam), abs=1e-4)


@pytest.mark.parametrize("lam", [0.0, 10.0])
def test_sure_is_an_unbiased_estimate_of_the_squared_error(lam):
    rng = np.random.default_rng(2)
    sigma, total = 20.0, SMOOTH_COUNTS.sum()
    risks, errors = [], []
    for _ in range(4000):
        risk, f = sure_risk(SMOOTH_COUNTS + rng.normal(0, sigma, len(SMOOTH_COUNTS)), sigma, total, 10, lam)
        risks.append(risk)
        errors.append(np.sum((f - SMOOTH_COUNTS) ** 2))
    stderr = np.std(np.array(risks) - np.array(errors)) / np.sqrt(len(risks))
    assert abs(np.mean(risks) - np.mean(errors)) < 4 * stderr


def _mean_errors(truth, sigma, draws=300, seed=3):
    rng = np.random.default_rng(seed)
    plain, smoothed = [], []
    for _ in range(draws):
        y = truth + rng.normal(0, sigma, len(truth))
        plain.append(np.abs(simplex_projection(y, truth.sum()) - truth).sum())
        smoothed.append(np.abs(smooth_row(y, sigma, truth.sum(), 10) - truth).sum())
    return np.mean(plain), np.mean(smoothed)


def test_smoothing_pays_on_a_smooth_column_and_costs_little_on_a_spike():
    plain, smoothed = _mean_errors(SMOOTH_COUNTS, sigma=20.0)
    assert smoothed < 0.8 * plain
    plain, smoothed = _mean_errors(SPIKE_COUNTS, sigma=20.0)
    assert smoothed < 1.15 * plain


def test_exact_rows_and_unordered_rows_are_only_projected():
    y = SMOOTH_COUNTS + np.random.default_rng(4).normal(0, 10, len(SMOOTH_COUNTS))
    np.testing.assert_array_equal(smooth_row(y, 0.0, y.sum(), 10), simplex_projection(y, y.sum()))
    np.testing.assert_array_equal(smooth_row(y, 10.0, 250.0, 3), simplex_projection(y, 250.0))
    assert LAMBDAS[0] == 0  # plain projection is always a candidate


def test_which_tables_are_smoothed():
    counts = SMOOTH_COUNTS[None, :]
    total = np.array([SMOOTH_COUNTS.sum()])
    noisy = MarginalTable((BINS,), counts, sigma=20.0, totals=total, smooth=True)
    assert noisy.smoothable_cells() == 10
    assert MarginalTable((BINS,), counts, sigma=20.0, totals=total).smoothable_cells() == 0  # off by default
    assert MarginalTable((BINS,), counts, sigma=0.0, totals=total, smooth=True).smoothable_cells() == 0  # exact
    category = CellBlock("c", 0, 11)
    assert MarginalTable((category,), counts, sigma=20.0, totals=total, smooth=True).smoothable_cells() == 0
    grouped = MarginalTable((BINS,), counts[:, :2], (np.array([0] * 5 + [1] * 5 + [1]),), sigma=20.0,
                            totals=total, smooth=True)
    assert grouped.smoothable_cells() == 0
    pair = MarginalTable((BINS, BINS), np.ones((1, 11, 11)), sigma=20.0, totals=total, smooth=True)
    assert pair.smoothable_cells() == 0
    # the exact table's distribution is its counts over their total, whatever the smoothing does
    exact = MarginalTable((BINS,), counts, sigma=0.0, totals=total, smooth=True)
    np.testing.assert_allclose(exact.conditional()[0], SMOOTH_COUNTS / SMOOTH_COUNTS.sum())
    smoothed = noisy.conditional()[0]
    assert smoothed.sum() == pytest.approx(1.0) and (smoothed >= 0).all()
    np.testing.assert_allclose(smoothed * total[0], smooth_row(counts[0], 20.0, total[0], 10))
    assert noisy.merged_phases().smooth  # derived copies keep the mark


@pytest.mark.parametrize("smooth", [False, True])
def test_release_marks_the_label_tables_only_when_asked(meta, smooth):
    frame, enc, x, y, ledger, _ = encoded_trial(meta)
    tables, _ = release_tables(x, y, TablePlan(2, enc.cell_blocks, [0.5, 0.5], smooth=smooth), ledger, np.random.default_rng(0))
    singles = [t for t in tables if len(t.blocks) == 1]
    assert singles and all(t.smooth == smooth for t in singles)
    assert any(t.smoothable_cells() for t in singles) == smooth  # the numerical columns' tables
    assert not any(t.smooth for t in tables if len(t.blocks) == 2)  # pair tables: nothing to smooth
