"""The slot × value tables of scheduled slots (synth.privacy.slot_trend, synth.models.slot_pair_loss)."""

import itertools

import numpy as np
import pytest
import torch

from synth.encode.table import CellBlock
from synth.models.slot_pair_loss import SlotTrendTerm
from synth.privacy.marginals import MarginalTable
from synth.privacy.slot_trend import SlotTrendSpec, public_groups, shrunk, slot_totals

K, LEVELS = 3, 3
PATTERNS = tuple(tuple(float(v) for v in (1,) + rest) for rest in itertools.product((0, 1), repeat=K - 1))
ATT = CellBlock("__attendance", 0, len(PATTERNS), presence=PATTERNS)
SLOTS = tuple(CellBlock(f"y@{k}", len(PATTERNS) + k * LEVELS, LEVELS) for k in range(K))
WIDTH = len(PATTERNS) + K * LEVELS


def _rows(rng, n):
    rows = np.zeros((n, WIDTH))
    rows[np.arange(n), rng.integers(0, len(PATTERNS), n)] = 1
    for b in SLOTS:
        rows[np.arange(n), b.start + rng.integers(0, LEVELS, n)] = 1
    return rows


def test_one_patient_moves_the_table_by_at_most_one_in_l2():
    rng = np.random.default_rng(0)
    spec = SlotTrendSpec(SLOTS, ATT)
    rows = _rows(rng, 30)
    for extra in _rows(rng, 40):
        moved = spec.count(np.vstack([rows, extra])) - spec.count(rows)
        assert np.sqrt((moved ** 2).sum()) <= 1 + 1e-9


def test_counts_match_a_loop_over_patients():
    rng = np.random.default_rng(1)
    spec, rows = SlotTrendSpec(SLOTS, ATT), _rows(rng, 25)
    expected = np.zeros((1, K, LEVELS))
    for r in rows:
        attended = np.asarray(PATTERNS[int(r[:len(PATTERNS)].argmax())])
        for k in np.flatnonzero(attended):
            expected[0, k, int(r[SLOTS[k].start:SLOTS[k].start + LEVELS].argmax())] += 1 / np.sqrt(attended.sum())
    np.testing.assert_allclose(spec.count(rows), expected)


def test_public_groups_pair_bins_and_keep_missing_apart():
    groups = public_groups(CellBlock("x", 0, 10, missing=10, ordered=True))
    assert groups.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert public_groups(CellBlock("c", 0, 3)) is None
    whole = public_groups(CellBlock("x", 0, 10, ordered=True))  # not nullable: no missing cell
    assert whole.dtype.kind == "i" and whole.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_shrinkage_keeps_a_clear_trend_and_drops_noise():
    rng = np.random.default_rng(2)
    totals = np.full(K, 100.0)
    trend = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.1, 0.3, 0.6]]) * totals[:, None]
    kept = shrunk(trend + rng.normal(0, 1.0, trend.shape), totals, 1.0)
    np.testing.assert_allclose(kept / totals[:, None], trend / totals[:, None], atol=0.05)
    flat = np.tile([50.0, 30.0, 20.0], (K, 1))
    errors = [shrunk(flat + rng.normal(0, 30.0, flat.shape), totals, 30.0) / 100 - flat / 100 for _ in range(200)]
    raw = [(flat + rng.normal(0, 30.0, flat.shape)) / 100 - flat / 100 for _ in range(200)]
    assert np.mean(np.square(errors)) < 0.5 * np.mean(np.square(raw))  # noise pulled towards the pooled rows
    assert np.allclose(shrunk(flat, totals, 0.0), flat)


def test_slot_totals_follow_the_attendance_estimate():
    patterns = np.zeros(len(PATTERNS))
    patterns[-1] = 40.0  # every patient at every slot
    np.testing.assert_allclose(slot_totals(ATT, K, patterns, 40.0), [40 / np.sqrt(K)] * K)
    one = CellBlock("__attendance", 0, 1, presence=((1.0,) * K,))
    np.testing.assert_allclose(slot_totals(one, K, None, 40.0), [40 / np.sqrt(K)] * K)


def test_the_generator_term_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    target = rng.dirichlet(np.ones(LEVELS), size=K)
    totals = np.array([30.0, 20.0, 10.0])
    table = MarginalTable(SLOTS, target * totals[:, None], by_label=False, pooled_by=ATT, totals=totals,
                          over_slots=True)
    raw = torch.as_tensor(rng.normal(size=(16, WIDTH)), dtype=torch.float32)
    got = float(SlotTrendTerm([table])(raw))
    p_att = torch.softmax(raw[:, :len(PATTERNS)], dim=1).numpy()
    dist, loss = np.zeros((K, LEVELS)), 0.0
    for b in range(len(raw)):
        for p, pattern in enumerate(PATTERNS):
            n = sum(pattern)
            for k in range(K):
                if pattern[k]:
                    cells = torch.softmax(raw[b, SLOTS[k].start:SLOTS[k].start + LEVELS], dim=0).numpy()
                    dist[k] += p_att[b, p] / np.sqrt(n) * cells
    dist /= dist.sum(axis=1, keepdims=True)
    share = totals / totals.sum()
    loss = float((share * ((dist - target) ** 2).sum(axis=1)).sum())
    assert abs(got - loss) < 1e-5


def test_the_derived_pooled_table_is_the_pooled_count_when_every_patient_attends_alike():
    from synth.privacy.marginals import TableSpec
    from synth.privacy.slot_trend import pooled_from

    rng = np.random.default_rng(4)
    rows = _rows(rng, 30)
    rows[:, :len(PATTERNS)] = 0
    rows[:, len(PATTERNS) - 1] = 1  # every patient at every slot
    spec = TableSpec(SLOTS, by_label=False, pooled_by=ATT)
    noisy = SlotTrendSpec(SLOTS, ATT).count(rows)[0]
    patterns = np.zeros(len(PATTERNS))
    patterns[-1] = 30
    derived = pooled_from(noisy, slot_totals(ATT, K, patterns, 30.0), spec, 1.0, 30.0)
    np.testing.assert_allclose(derived.counts, spec.count(rows, np.zeros(30, dtype=int), 0))
    assert derived.sigma == pytest.approx(1.0)  # the pooled table's own noise, for the same step
