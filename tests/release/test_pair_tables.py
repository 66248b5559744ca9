"""Pair tables: coarse groups from released counts, sensitivity-1 scores, the exponential mechanism, the ledger."""

import math
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from opacus.accountants.analysis.rdp import compute_rdp

from synth.privacy.domain import PREP_SHARE
from synth.encode.table import CellBlock
from synth.privacy.ledger import Ledger, compose_epsilon
from synth.privacy.marginals import MARGINAL_SHARE, MarginalTable, TableSpec, label_tables
from synth.release.marginals import measure_tables
from synth.release.pair_tables import (PAIR_GROUPS, TablePlan, coarse_groups, pair_scores, release_tables,
                                       select_pairs)
from tests.conftest import encoded_trial


def test_coarse_groups_merge_adjacent_bins_by_mass_and_keep_missing_apart():
    block = CellBlock("x", 0, 10, missing=11, ordered=True)
    counts = np.array([[0, 0, 50, 50, 50, 50, 0, 0, 0, 0, 30.0]])  # 10 bins + missing
    groups = coarse_groups(MarginalTable((block,), counts))
    assert groups.max() + 1 <= PAIR_GROUPS and groups[-1] == groups.max()  # missing: its own, last group
    assert np.all(np.diff(groups[:10]) >= 0)  # adjacent bins only
    assert len(set(groups[2:6])) == 3  # the mass is split into the 3 bin groups
    cat = CellBlock("c", 0, 6)
    groups = coarse_groups(MarginalTable((cat,), np.array([[5, 90, 1, 40, 60, 2.0]])))
    assert groups.tolist() == [3, 0, 3, 2, 1, 3]  # the 3 largest keep a group each, the rest share one
    assert coarse_groups(MarginalTable((CellBlock("b", 0, 2),), np.array([[3.0, 4]]))) is None


def test_scores_are_l1_from_independence_with_sensitivity_one(meta):
    frame, enc, x, y, _, domain = encoded_trial(meta, 400, heavy=True)
    singles = measure_tables(x, y, 2, label_tables(enc.cell_blocks), 0.0, np.random.default_rng(0))
    by_col = {t.name: t for t in singles}
    specs = [TableSpec((a, b), (coarse_groups(by_col[a.column]), coarse_groups(by_col[b.column])), False)
             for a, b in combinations(enc.cell_blocks, 2)]
    sizes = len(x) * np.asarray(domain.label_proportions)
    scores = pair_scores(x, specs, by_col, sizes)
    # the slow, obvious score of sex × smoker: pandas crosstab against Σ_c n_c p(sex|c) p(smoker|c)
    i = next(k for k, s in enumerate(specs) if s.name == "sex x smoker")
    sex, smoker = frame["sex"].fillna("~"), frame["smoker"]
    true = pd.crosstab(sex, smoker).to_numpy()
    arm = frame["arm"]
    expected = sum(sizes[c] * np.outer(sex[arm == k].value_counts(normalize=True).sort_index(),
                                       smoker[arm == k].value_counts(normalize=True).sort_index())
                   for c, k in enumerate(domain.label.categories))
    assert scores[i] == pytest.approx(np.abs(true - expected).sum())
    best = specs[int(np.argmax(scores))].name
    assert best == "weight x heavy"
    without = pair_scores(x[1:], specs, by_col, sizes)  # same released tables, one patient fewer
    assert np.abs(scores - without).max() <= 1.0 + 1e-9


def test_exponential_mechanism_draws_with_the_stated_probabilities():
    scores = np.array([0.0, 1.0, 2.0])
    rng = np.random.default_rng(1)
    draws = np.array([select_pairs(scores, 1, 2.0, rng)[0] for _ in range(50000)])
    expected = np.exp(0.5 * 2.0 * scores) / np.exp(0.5 * 2.0 * scores).sum()  # P ∝ exp(ε0·score/2)
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / len(draws), expected, atol=0.01)
    assert select_pairs(scores, 2, math.inf, rng) == [2, 1]  # no privacy: the top k, best first
    assert sorted(select_pairs(scores, 3, 0.1, rng)) == [0, 1, 2]  # without replacement


def test_release_records_three_entries_and_spends_the_marginal_share(meta):
    _, enc, x, y, ledger, domain = encoded_trial(meta, 4000, heavy=True)  # full-resolution label tables
    tables, _ = release_tables(x, y, TablePlan(2, enc.cell_blocks, domain.label_proportions), ledger, np.random.default_rng(0))
    names = [m.name for m in ledger.mechanisms]
    assert names[-3:] == ["marginals:label x column", "selection:pairs", "marginals:pairs"]
    k = len(enc.cell_blocks) - 1
    select, pairs = ledger.mechanisms[-2], ledger.mechanisms[-1]
    assert select.steps == pairs.steps == k and len(tables) == len(enc.cell_blocks) + k
    eps0 = select.extra["epsilon0"]
    assert select.noise_multiplier == pytest.approx(2.0 / eps0)  # ε0²/8-zCDP recorded as a Gaussian …
    rdp = compute_rdp(q=1.0, noise_multiplier=select.noise_multiplier, steps=1, orders=[2.0, 8.0])
    np.testing.assert_allclose(rdp, [2.0 * eps0**2 / 8, 8.0 * eps0**2 / 8])  # … whose Rényi curve is α·ε0²/8
    assert pairs.extra["tables"] == select.extra["pairs"]
    assert all(not t.by_label and t.counts.shape[0] == 1 for t in tables[len(enc.cell_blocks):])
    share = PREP_SHARE + MARGINAL_SHARE
    assert compose_epsilon(ledger.history(), share * ledger.accountant_delta) == pytest.approx(share, rel=2e-3)


def test_without_privacy_the_strongest_pairs_are_measured_exactly(meta):
    frame, enc, x, y, ledger, domain = encoded_trial(meta, 400, math.inf, heavy=True)
    tables, _ = release_tables(x, y, TablePlan(2, enc.cell_blocks, domain.label_proportions, n_pairs=1), ledger,
                               np.random.default_rng(0))
    pair = tables[-1]
    assert pair.name == "weight x heavy" and ledger.mechanisms[-2].noise_multiplier == 0
    assert pair.counts.sum() == len(frame) and np.allclose(pair.counts, np.round(pair.counts))


def test_without_preprocessing_releases_the_tables_spend_only_their_share(meta):
    _, enc, x, _, _, _ = encoded_trial(meta, 400, heavy=True)
    ledger = Ledger(1.0, 1e-5, len(x))  # no label, everything public: nothing released before
    release_tables(x, None, TablePlan(0, enc.cell_blocks, []), ledger, np.random.default_rng(0))
    assert [m.name for m in ledger.mechanisms] == ["marginals:column", "selection:pairs", "marginals:pairs"]
    share = MARGINAL_SHARE  # the later stages must not count a preprocessing share that was never spent
    assert compose_epsilon(ledger.history(), share * ledger.accountant_delta) == pytest.approx(share, rel=2e-3)
