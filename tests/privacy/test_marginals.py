"""Noisy marginal tables: exact counts at σ = 0, one cell per patient per table, the ledger's share."""

import numpy as np
import pandas as pd
import pytest

from synth.privacy.domain import PREP_SHARE
from synth.privacy.ledger import compose_epsilon
from synth.privacy.marginals import MARGINAL_SHARE, MarginalTable, label_tables, simplex_projection
from synth.release.marginals import Patients, measure_tables, release_marginals
from tests.conftest import encoded_trial


def test_zero_noise_tables_equal_a_crosstab(meta):
    frame, enc, x, y, _, _ = encoded_trial(meta)
    tables = measure_tables(x, y, 2, label_tables(enc.cell_blocks), 0.0, np.random.default_rng(0))
    sex = next(t for t in tables if t.name == "sex")
    # the slow, obvious count: label × sex with missing as its own cell (categories f, m, missing)
    expected = pd.crosstab(frame["arm"], frame["sex"].fillna("~missing")).to_numpy()
    np.testing.assert_array_equal(sex.counts, expected)
    weight = next(t for t in tables if t.name == "weight")
    assert weight.counts.shape == (2, 11)  # 10 bins + missing
    assert weight.counts[:, 10].sum() == frame["weight"].isna().sum()
    for t in tables:  # every patient in exactly one cell of every table
        assert t.counts.sum() == len(frame)


def test_one_patient_moves_each_table_by_one_cell(meta):
    _, enc, x, y, _, _ = encoded_trial(meta)
    tables = label_tables(enc.cell_blocks)
    full = measure_tables(x, y, 2, tables, 0.0, np.random.default_rng(0))
    without = measure_tables(x[1:], y[1:], 2, tables, 0.0, np.random.default_rng(0))
    diffs = np.concatenate([(a.counts - b.counts).ravel() for a, b in zip(full, without)])
    assert np.sum(diffs**2) == len(tables)  # L2 sensitivity √k: k Gaussian releases of sensitivity 1


def test_release_spends_its_share_and_is_recorded(meta):
    _, enc, x, y, ledger, _ = encoded_trial(meta)
    tables = release_marginals(Patients(x, y, 2), label_tables(enc.cell_blocks), ledger, np.random.default_rng(0))
    mech = ledger.mechanisms[-1]
    assert mech.name == "marginals:label x column" and mech.steps == len(tables) == len(enc.cell_blocks)
    assert mech.extra["tables"] == [b.column for b in enc.cell_blocks]
    share = PREP_SHARE + MARGINAL_SHARE  # calibrated at the same share of δ
    assert compose_epsilon(ledger.history(), share * ledger.accountant_delta) == pytest.approx(share, rel=2e-3)
    assert ledger.epsilon() <= share
    noisy = np.concatenate([t.counts.ravel() for t in tables])
    assert not np.allclose(noisy, np.round(noisy))  # noise was added


def test_conditional_is_post_processing_of_noisy_counts(meta):
    _, enc, x, y, _, _ = encoded_trial(meta)
    (table,) = measure_tables(x, y, 2, label_tables(enc.cell_blocks)[:1], 0.0, np.random.default_rng(0))
    table.counts[0] = -3.0  # a label value whose noisy row is all negative
    cond = table.conditional()
    np.testing.assert_allclose(cond.sum(axis=1), 1.0)
    np.testing.assert_allclose(cond[0], 1.0 / cond.shape[1])
    assert (cond >= 0).all()


def test_unreleased_labels_are_counted_in_no_table(meta):
    _, enc, x, y, _, _ = encoded_trial(meta)
    y = y.copy()
    y[:10] = -1
    tables = measure_tables(x, y, 2, label_tables(enc.cell_blocks), 0.0, np.random.default_rng(0))
    assert all(t.counts.sum() == len(x) - 10 for t in tables)


def _projection_by_bisection(v, total):
    """The slow, obvious way: find τ with Σ max(v − τ, 0) = total by bisection."""
    lo, hi = v.min() - total, v.max()
    for _ in range(200):
        tau = (lo + hi) / 2
        lo, hi = (tau, hi) if np.maximum(v - tau, 0).sum() > total else (lo, tau)
    return np.maximum(v - (lo + hi) / 2, 0)


@pytest.mark.parametrize("seed", range(5))
def test_simplex_projection_matches_bisection(seed):
    rng = np.random.default_rng(seed)
    v = rng.normal(20, 40, size=int(rng.integers(2, 30)))
    total = float(rng.uniform(1, 500))
    w = simplex_projection(v, total)
    np.testing.assert_allclose(w, _projection_by_bisection(v, total), atol=1e-6)
    assert (w >= 0).all() and w.sum() == pytest.approx(total)
    # it is the closest such point: no feasible random perturbation gets nearer to v
    for _ in range(50):
        other = simplex_projection(w + rng.normal(0, 5, len(w)), total)
        assert np.sum((v - w) ** 2) <= np.sum((v - other) ** 2) + 1e-9


def test_known_totals_zero_the_cells_within_the_noise():
    counts = np.array([[300.0, 90.0, 12.0, -8.0, 6.0]])
    clipped = MarginalTable((), counts).conditional()
    projected = MarginalTable((), counts, totals=np.array([380.0])).conditional()
    np.testing.assert_allclose(projected.sum(axis=1), 1.0)
    assert clipped[0, 2] > 0 and clipped[0, 4] > 0  # clipping keeps the noise's positive mass
    assert projected[0, 3] == 0 and projected[0, 4] == 0  # the projection zeroes what is within τ of 0
    assert projected[0, 0] > clipped[0, 0]
    np.testing.assert_allclose(projected[0], simplex_projection(counts[0], 380.0) / 380.0)
    with pytest.raises(ValueError, match="2 totals for 1 rows"):
        MarginalTable((), counts, totals=np.array([380.0, 10.0])).conditional()


def test_released_tables_carry_public_totals(meta):
    from synth.release.pair_tables import TablePlan, release_tables

    _, enc, x, y, ledger, _ = encoded_trial(meta)
    props = [0.4, 0.6]
    tables, out = release_tables(x, y, TablePlan(2, enc.cell_blocks, props, n_pairs=1), ledger, np.random.default_rng(0))
    assert out == pytest.approx(props)  # no released label counts to combine: the proportions as given
    assert all(np.allclose(t.totals, len(x) * np.array(props)) for t in tables if t.by_label)
    assert all(t.totals.tolist() == [len(x)] for t in tables if not t.by_label)  # pairs, unlabelled marginals
    assert len([t for t in tables if len(t.blocks) == 2]) == 1


def test_cell_counts_equal_a_row_by_row_count():
    from synth.privacy.marginals import cell_counts

    rng = np.random.default_rng(0)
    a, b, c = rng.integers(0, 2, 500), rng.integers(0, 3, 500), rng.integers(0, 4, 500)
    w = rng.random(500)
    slow = np.zeros((2, 3, 4))
    for i, j, k, v in zip(a, b, c, w):
        slow[i, j, k] += v
    np.testing.assert_allclose(cell_counts((2, 3, 4), [a, b, c], w), slow)
    assert cell_counts((2, 3, 4), [a, b, c]).sum() == 500 and cell_counts((3,), [np.zeros(0, int)]).sum() == 0
