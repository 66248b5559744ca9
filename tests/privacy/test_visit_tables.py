"""Tables pooled over visits: each patient adds 1 in total, spread 1/n over their n visits;
the generator's pooled cells (fast, differentiable) agree with the counted table (slow)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from synth.models.marginal_loss import STATIONARITY, MarginalLoss, pooled_cells, slot_drift
from synth.schema.metadata import Metadata
from synth.privacy.ledger import Ledger
from synth.privacy.marginals import MarginalTable
from synth.privacy.resolution import coarse_groups, label_resolution, sequence_table_specs
from synth.release.marginals import Patients, release_label_tables
from synth.release.sequence import prepare_sequences
from tests.helpers.visits import seq_meta, make_visits

POOLED = seq_meta(visit_tables="pooled")  # these tests are about the pooled tables (the default on long schedules)


@pytest.fixture(scope="module")
def encoded():
    df = make_visits(n=30)
    ledger = Ledger(math.inf, 1e-5, 30)
    domain, enc, wide = prepare_sequences(df, Metadata.load(POOLED), "arm", ledger, np.random.default_rng(0), "t")
    labels = wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    return df, enc, enc.encode(wide), labels


def _pooled(enc, column):
    (spec,) = [s for s in sequence_table_specs(enc) if s.pooled_by is not None and s.blocks[0].column == f"{column}@1"]
    return spec


def test_label_tables_pool_temporal_columns_over_all_visit_slots(encoded):
    _, enc, _, _ = encoded
    specs = sequence_table_specs(enc)
    assert [s.blocks[0] for s in specs] == enc.patient_cell_blocks()
    pooled = {s.blocks[0].column for s in specs if s.pooled_by is not None}
    assert pooled == {"lab@1", "stage@1", "day@1"}
    assert [b.column for b in _pooled(enc, "lab").blocks] == [f"lab@{k}" for k in range(1, 6)]
    assert [b.column for b in _pooled(enc, "day").blocks] == ["day@1"] + [f"__gap@{k}" for k in range(2, 6)]


def test_the_visit_times_table_counts_the_first_time_then_each_gap(encoded):
    df, enc, x, labels = encoded
    spec = _pooled(enc, "day")
    (day,) = [c for c in enc.domain.columns if c.name == "day@1"]
    # the duration scale's bin edges: a hundredth of the range times 101^(k/10) − 1
    edges = (day.hi - day.lo) / 100 * (101.0 ** (np.arange(11) / 10) - 1)
    slow = np.zeros((2, 10))
    for _, visits in df.sort_values(["pid", "day"]).groupby("pid"):
        label = 0 if visits["arm"].iloc[0] == "a" else 1
        times = visits["day"].to_numpy(float)
        for step in [times[0] - day.lo, *np.diff(times)]:  # the first visit from the range's start, then gaps
            slow[label, min(int(np.searchsorted(edges, step, side="right")) - 1, 9)] += 1 / len(visits)
    assert slow[:, 1:].sum() > 0  # the fixture's times are not all in one bin
    np.testing.assert_allclose(spec.count(x, labels, 2), slow, atol=1e-9)
    assert spec.name == "day (first visit, then the gaps; pooled over visits)"
    tables = [MarginalTable(t.blocks, t.count(x, labels, 2), pooled_by=t.pooled_by, missing_phases=t.missing_phases)
              for t in (spec, _pooled(enc, "lab"))]
    # no stationarity across its slots: the first visit's time and the gaps are different quantities
    assert [blocks[0].column for blocks, _ in MarginalLoss(tables, [0.5, 0.5]).sequences] == ["lab@1"]


def test_pooled_counts_match_a_visit_by_visit_count(encoded):
    df, enc, x, labels = encoded
    spec = _pooled(enc, "lab")
    counts = spec.count(x, labels, 2)
    slow = np.zeros((2, 13))  # 10 bins over [0, 10], then missing at visit 1, visit 2, later visits
    for _, visits in df.sort_values(["pid", "day"]).groupby("pid"):
        label = 0 if visits["arm"].iloc[0] == "a" else 1
        for k, lab in enumerate(visits["lab"]):
            cell = 10 + min(k, 2) if np.isnan(lab) else min(int(lab), 9)
            slow[label, cell] += 1 / len(visits)
    assert slow[:, 10:].min() > 0 and slow[:, 11:].sum() > 0  # the fixture has missing values at several phases
    np.testing.assert_allclose(counts, slow, atol=1e-9)
    np.testing.assert_allclose(counts.sum(axis=1), np.bincount(labels, minlength=2))  # one per patient
    assert spec.name == "lab (pooled over visits, missing in 3 visit phases)"


def test_missing_phases_merge_back_into_the_one_missing_cell(encoded):
    _, enc, x, labels = encoded
    spec = _pooled(enc, "lab")
    phased = MarginalTable(spec.blocks, spec.count(x, labels, 2), pooled_by=spec.pooled_by, missing_phases=3)
    plain = replace(spec, missing_phases=0).count(x, labels, 2)
    np.testing.assert_allclose(phased.merged_phases().counts, plain, atol=1e-12)
    assert phased.merged_phases().spec.phases == 0 and phased.spec.phases == 3
    categorical = _pooled(enc, "stage")
    assert categorical.missing_phases == 0 and categorical.phases == 0  # categorical: missing is a category


@pytest.mark.parametrize("column", ["lab", "day"])
def test_one_patient_adds_one_in_total_and_at_most_one_in_l2(encoded, column):
    _, enc, x, labels = encoded
    spec = _pooled(enc, column)
    full = spec.count(x, labels, 2)
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        diff = full - spec.count(x[keep], labels[keep], 2)
        assert diff.min() >= -1e-12 and diff.sum() == pytest.approx(1.0)
        assert np.sqrt((diff ** 2).sum()) <= 1.0 + 1e-12


@pytest.mark.parametrize("column", ["lab", "day"])
def test_generator_pooled_cells_equal_the_counted_table_for_sharp_logits(encoded, column):
    _, enc, x, labels = encoded
    spec = _pooled(enc, column)
    raw = torch.as_tensor(x, dtype=torch.float32) * 60.0  # sharp softmax at each one-hot cell
    soft = pooled_cells(raw, spec.blocks, spec.pooled_by, spec.phases)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(len(x)))
    for c in (0, 1):
        expected = spec.count(x, labels, 2)[c]
        torch.testing.assert_close(soft[torch.as_tensor(labels == c)].sum(dim=0).double(),
                                   torch.as_tensor(expected), atol=1e-4, rtol=0)


def test_pooled_cells_average_over_the_visit_count_distribution():
    """Half the mass on 1 visit, half on 2: slot 1 weighs 1/2 + 1/4, slot 2 weighs 1/4."""
    from synth.encode.table import CellBlock
    visits = CellBlock("__visits", 0, 2)
    slots = (CellBlock("v@1", 2, 2), CellBlock("v@2", 4, 2))
    raw = torch.tensor([[0.0, 0.0, 60.0, 0.0, 0.0, 60.0]])  # P(1 visit) = P(2 visits); slot 1 → cell 0, slot 2 → 1
    torch.testing.assert_close(pooled_cells(raw, slots, visits), torch.tensor([[0.75, 0.25]]))


def _slot_drift_slow(raw, labels, n_classes, slots, visits):
    """slot_drift from its definition, one class and one slot at a time."""
    p_visits = torch.softmax(raw[:, visits.start:visits.start + visits.width], dim=1)
    out = []
    for c in range(n_classes):
        rows = labels == c
        dists, masses = [], []
        for k, b in enumerate(slots):
            w = p_visits[rows, k:].sum(dim=1)  # P(visits > k): column j is j + 1 visits
            values = torch.softmax(raw[rows, b.start:b.start + b.width], dim=1)
            dists.append((w[:, None] * values).sum(dim=0) / w.sum())
            masses.append(w.sum())
        share = torch.stack(masses) / sum(masses)
        pooled = sum(s * d for s, d in zip(share, dists))
        out.append(sum(s * ((d - pooled) ** 2).sum() for s, d in zip(share, dists)))
    return torch.stack(out)


def test_slot_drift_matches_its_slow_definition(encoded):
    _, enc, x, labels = encoded
    spec = _pooled(enc, "lab")
    raw = torch.randn(len(x), enc.width, generator=torch.Generator().manual_seed(0)) * 2
    by_label = torch.nn.functional.one_hot(torch.as_tensor(labels), 2).float()
    fast = slot_drift(raw, by_label, spec.blocks, spec.pooled_by)
    slow = _slot_drift_slow(raw, torch.as_tensor(labels), 2, spec.blocks, spec.pooled_by)
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
    assert fast.min() > 0


def test_slot_drift_is_zero_when_every_visit_looks_alike_and_enters_the_loss(encoded):
    _, enc, x, labels = encoded
    spec = _pooled(enc, "lab")
    raw = torch.randn(len(x), enc.width, generator=torch.Generator().manual_seed(1))
    first = spec.blocks[0]
    for b in spec.blocks[1:]:  # every slot's value logits equal to the first slot's, patient by patient
        raw[:, b.start:b.start + b.width] = raw[:, first.start:first.start + first.width]
    v = spec.pooled_by
    raw[:, v.start:v.start + v.width] = raw[0, v.start:v.start + v.width]  # and one visit-count distribution
    by_label = torch.nn.functional.one_hot(torch.as_tensor(labels), 2).float()
    torch.testing.assert_close(slot_drift(raw, by_label, spec.blocks, spec.pooled_by), torch.zeros(2))

    table = MarginalTable(spec.blocks, spec.count(x, labels, 2), pooled_by=spec.pooled_by, missing_phases=3)
    loss = MarginalLoss([table], [0.5, 0.5])
    y = torch.as_tensor(labels)
    moved = raw.clone()
    moved[:, spec.blocks[2].start] += 5.0  # slot 3 drifts: the table's pooled cells barely change
    extra = 0.5 * slot_drift(moved, by_label, spec.blocks, spec.pooled_by).sum()
    table_only = loss(moved, y) - STATIONARITY * extra
    assert STATIONARITY > 0 and extra > 0
    torch.testing.assert_close(table_only, _table_term(table, moved, y), atol=1e-6, rtol=1e-5)


def _table_term(table, raw, y):
    """The table's own squared distance (MarginalLoss without the drift term)."""
    target = torch.as_tensor(table.conditional(), dtype=torch.float32)
    pooled = pooled_cells(raw, table.blocks, table.pooled_by, table.spec.phases)
    onehot = torch.nn.functional.one_hot(y, 2).float()
    cond = onehot.T @ pooled / onehot.sum(dim=0)[:, None]
    return (0.5 * ((cond - target) ** 2).sum(dim=1)).sum()


def test_two_stage_release_keeps_missing_phases_in_stage_one_and_merges_them_for_the_label_groups():
    df = make_visits(n=60, seed=3)
    ledger = Ledger(1.0, 1e-5, 60)
    domain, enc, wide = prepare_sequences(df, Metadata.load(POOLED), "arm", ledger, np.random.default_rng(0), "t")
    x, y = enc.encode(wide), wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    specs = sequence_table_specs(enc)
    sizes = 60 * np.asarray(domain.label_proportions)
    tables, full = release_label_tables(Patients(x, y, 2), specs, sizes, ledger, np.random.default_rng(1), 0.5)
    assert ledger.mechanisms[-2].name == "marginals:column"  # few patients: two stages
    lab = specs.index(_pooled(enc, "lab"))
    stage1, stage2 = full[lab], tables[len(specs) + lab]
    assert stage1.spec.phases == 3 and stage1.counts.shape == (1, 13)
    assert stage2.spec.phases == 0 and stage2.by_label
    cells = label_resolution(60, 2, stage1.sigma)
    expected = coarse_groups(stage1.merged_phases(), cells, missing_apart=False)  # phases summed back
    np.testing.assert_array_equal(stage2.groups[0], expected)
    assert "missing in 3 visit phases" in ledger.mechanisms[-2].extra["tables"][lab]


def test_batched_slot_drift_equals_the_sum_of_slot_drift_over_columns(encoded):
    from synth.models.slot_drift import BatchedSlotDrift

    _, enc, x, labels = encoded
    lab, day = _pooled(enc, "lab"), _pooled(enc, "day")
    shorter = tuple(replace(b, width=b.width - 3) for b in day.blocks)  # columns of different widths
    sequences = [(lab.blocks, lab.pooled_by), (shorter, day.pooled_by)]
    raw = torch.randn(len(x), enc.width, generator=torch.Generator().manual_seed(2), requires_grad=True)
    by_label = torch.nn.functional.one_hot(torch.as_tensor(labels), 2).float()
    weights = torch.tensor([0.7, 0.3])
    fast = BatchedSlotDrift(sequences)(raw, by_label, weights)
    slow = sum((weights * slot_drift(raw, by_label, s, v)).sum() for s, v in sequences)
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
    (g_fast,), (g_slow,) = torch.autograd.grad(fast, raw), torch.autograd.grad(slow, raw)
    torch.testing.assert_close(g_fast, g_slow, atol=1e-6, rtol=1e-4)


def test_present_only_drift_leaves_a_nullable_categorys_missing_share_free_per_slot(encoded, monkeypatch):
    from synth.encode.table import visit_presence
    from synth.models import slot_drift as drift_module
    from synth.models.slot_drift import BatchedSlotDrift

    _, enc, x, labels = encoded
    spec = _pooled(enc, "stage")
    assert all(b.missing_category and b.width == 3 for b in spec.blocks)
    assert not any(b.missing_category for b in _pooled(enc, "lab").blocks)  # numerical: its own missing span
    count = spec.pooled_by  # a visit count (visits not on a schedule) ...
    slots = replace(count, presence=tuple(map(tuple, visit_presence(count, 5))))  # ... as attendance patterns
    raw = torch.zeros(len(x), enc.width)
    raw[:, count.start:count.start + count.width] = torch.randn(count.width, generator=torch.Generator().manual_seed(3))
    for k, b in enumerate(spec.blocks):  # "1" twice as likely as "2" at every slot; missing more so each slot
        raw[:, b.start:b.start + 3] = torch.tensor([math.log(2.0), 0.0, 0.8 * k - 2.0])
    by_label = torch.nn.functional.one_hot(torch.as_tensor(labels), 2).float()
    monkeypatch.setattr(drift_module, "PRESENT_ONLY", False)
    every = slot_drift(raw, by_label, spec.blocks, slots)
    assert every.min() > 1e-4  # every cell: the missing shares drift
    torch.testing.assert_close(slot_drift(raw, by_label, spec.blocks, count), every)  # the same weights
    monkeypatch.setattr(drift_module, "PRESENT_ONLY", True)
    torch.testing.assert_close(slot_drift(raw, by_label, spec.blocks, slots), torch.zeros(2), atol=1e-7, rtol=0)
    torch.testing.assert_close(slot_drift(raw, by_label, spec.blocks, count), every)  # off a schedule: unchanged
    moved = raw.clone()
    moved[:, spec.blocks[2].start] += 1.0  # a present category moves at slot 3: drift again
    assert slot_drift(moved, by_label, spec.blocks, slots).min() > 1e-4
    weights = torch.tensor([0.6, 0.4])
    for v in (slots, count):
        sequences = [(spec.blocks, v), (_pooled(enc, "lab").blocks, v)]
        fast = BatchedSlotDrift(sequences)(moved, by_label, weights)
        slow = sum((weights * slot_drift(moved, by_label, s, vv)).sum() for s, vv in sequences)
        torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
