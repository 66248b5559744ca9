"""Class sizes combined from the label counts and the label tables' row sums (post-processing)."""

import numpy as np
import pytest

from synth.encode.table import CellBlock
from synth.privacy.class_sizes import NoisyCounts, combine_class_sizes
from synth.privacy.marginals import MarginalTable
from synth.release.pair_tables import TablePlan, release_tables
from tests.conftest import encoded_trial

BLOCK = CellBlock("x", 0, 4)


def _table(rows, sigma, by_label=True):
    return MarginalTable((BLOCK,), np.asarray(rows, dtype=float), by_label=by_label, sigma=sigma)


def test_without_noise_the_released_counts_are_kept():
    out = combine_class_sizes(NoisyCounts(np.array([7.0, 3.0]), 0.0), [_table([[9, 0, 0, 0], [1, 0, 0, 0]], 0.0)], 10)
    assert out.tolist() == [7.0, 3.0]


def test_equal_variances_average_and_unlabelled_tables_are_skipped():
    # prior variance 2² = 4; a table of 4 cells a row at σ = 1 has row-sum variance 4: equal weights
    table = _table([[4, 4, 3, 3], [10, 6, 5, 5]], 1.0)  # row sums 14, 26
    unlabelled = _table([[100, 100, 100, 100]], 0.5, by_label=False)
    out = combine_class_sizes(NoisyCounts(np.array([10.0, 30.0]), 2.0), [table, unlabelled], 40)
    np.testing.assert_allclose(out, [12.0, 28.0])


def test_result_is_non_negative_and_sums_to_public_n():
    out = combine_class_sizes(NoisyCounts(np.array([-40.0, 20.0, 90.0]), 30.0), [], 100)
    assert out.min() >= 0 and out.sum() == pytest.approx(100)
    assert out[0] == 0 and out[2] > out[1]


def test_error_matches_the_inverse_variance_formula():
    """Slow, obvious check of the fast formula: simulate the releases many times."""
    rng = np.random.default_rng(0)
    truth, sigma0, sigma, cells, k = np.array([500.0, 300.0, 200.0]), 40.0, 30.0, 4, 6
    rows = np.repeat(truth[:, None] / cells, cells, axis=1)
    errors = []
    for _ in range(3000):
        prior = NoisyCounts(truth + rng.normal(0, sigma0, 3), sigma0)
        tables = [_table(rows + rng.normal(0, sigma, rows.shape), sigma) for _ in range(k)]
        errors.append(combine_class_sizes(prior, tables, int(truth.sum())) - truth)
    expected_var = 1 / (1 / sigma0**2 + k / (cells * sigma**2))  # before the sum-to-N projection
    observed = np.var(np.array(errors), axis=0)
    assert np.all(observed < expected_var * 1.1)  # the projection only removes variance
    assert np.all(observed > expected_var * 0.5)
    assert expected_var < sigma0**2 / 3  # far below the label counts' own noise


def test_released_label_tables_get_the_combined_sizes_as_totals(meta):
    _, enc, x, y, ledger, domain = encoded_trial(meta, 400, heavy=True)
    released = NoisyCounts(np.asarray(domain.label_counts), domain.label_sigma)
    assert domain.label_sigma > 0 and len(domain.label_counts) == 2
    tables, proportions = release_tables(x, y, TablePlan(2, enc.cell_blocks, domain.label_proportions, n_pairs=1,
                                                             label_counts=released), ledger, np.random.default_rng(0))
    assert sum(proportions) == pytest.approx(1) and proportions != pytest.approx(domain.label_proportions)
    labelled = [t for t in tables if t.by_label]
    assert labelled and all(np.allclose(t.totals, len(x) * np.array(proportions)) for t in labelled)
    _, _, _, _, plain, _ = encoded_trial(meta, 400, heavy=True)
    release_tables(x, y, TablePlan(2, enc.cell_blocks, domain.label_proportions, n_pairs=1), plain,
                   np.random.default_rng(0))
    assert ledger.history() == plain.history()  # the combination costs nothing


def test_a_released_n_is_refined_by_the_tables_totals():
    """Slow, obvious check of the GLS refinement: over many simulated releases, the refined class
    sizes' sum (the refined N) is unbiased and far less noisy than the released N alone."""
    from synth.privacy.class_sizes import refine_patients

    rng = np.random.default_rng(1)
    truth, sigma0, sigma, cells, k = np.array([150.0, 100.0]), 56.0, 16.0, 4, 8
    rows = np.repeat(truth[:, None] / cells, cells, axis=1)
    labelled, unlabelled = [], []
    for _ in range(2000):
        released_n = NoisyCounts(np.array([truth.sum() + rng.normal(0, sigma0)]), sigma0)
        prior = NoisyCounts(truth + rng.normal(0, sigma0, 2), sigma0)
        tables = [_table(rows + rng.normal(0, sigma, rows.shape), sigma) for _ in range(k)]
        labelled.append(combine_class_sizes(prior, tables, released_n).sum())
        flat = [_table(rows.sum(axis=0, keepdims=True) + rng.normal(0, sigma, (1, cells)), sigma, by_label=False)
                for _ in range(k)]
        unlabelled.append(refine_patients(released_n, flat))
    for estimates in (np.array(labelled), np.array(unlabelled)):
        assert abs(estimates.mean() - truth.sum()) < 3
        assert estimates.std() < sigma0 / 3
