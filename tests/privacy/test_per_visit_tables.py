"""Per-visit tables (a short public schedule): a temporal column's label table at each visit slot,
with a "no visit k" cell, so each patient adds 1 to one cell of each table; the generator's side
(fast, differentiable) agrees with the counted table (slow); the choice reads metadata only."""

import math

import numpy as np
import pytest
import torch

from synth import SynthError, Synthesizer
from synth.release.sequence import prepare_sequences
from synth.models.marginal_loss import MarginalLoss, visit_slot_cells
from synth.privacy.ledger import Ledger
from synth.privacy.marginals import MarginalTable
from synth.release.pair_tables import TablePlan, pair_spec, release_tables
from synth.privacy.resolution import coarse_groups, sequence_table_specs
from synth.schema.metadata import Metadata
from tests.helpers.visits import seq_meta, make_visits


def _prepare(doc, n=30, seed=0, epsilon=math.inf):
    df = make_visits(n=n, seed=seed)
    ledger = Ledger(epsilon, 1e-5, n)
    domain, enc, wide = prepare_sequences(df, Metadata.load(doc), "arm", ledger, np.random.default_rng(0), "t")
    return df, domain, enc, enc.encode(wide), wide["arm"].map({"a": 0, "b": 1}).to_numpy(), ledger


@pytest.fixture(scope="module")
def per_visit():
    return _prepare(seq_meta())  # max_visits 5 in the metadata: per visit by default


def _slot_table(enc, column, k):
    (spec,) = [s for s in sequence_table_specs(enc, per_visit=True)
               if s.slots == (k,) and s.blocks[0].column == f"{column}@{k + 1}"]
    return spec


def test_per_visit_specs_follow_the_patient_blocks():
    _, _, enc, _, _, _ = _prepare(seq_meta())
    specs = sequence_table_specs(enc, per_visit=True)
    n_blocks = len(enc.patient_cell_blocks())
    assert [s.blocks[0] for s in specs[:n_blocks]] == enc.patient_cell_blocks()
    assert [s.blocks[0].column for s in specs[n_blocks:]] == [f"{c}@{k}" for k in range(2, 6) for c in ("lab", "stage")]
    assert {s.blocks[0].column for s in specs if s.pooled_by is not None} == {"day@1"}  # the visit times stay pooled
    pooled = sequence_table_specs(enc)
    assert len(pooled) == n_blocks and not any(s.slots for s in pooled)


@pytest.mark.parametrize("seq, expected", [({}, None), ({"max_visits": 7}, False), ({"visit_tables": "pooled"}, False),
                                           ({"max_visits": 7, "visit_tables": "per_visit"}, True)])
def test_the_metadata_says_per_visit_pooled_or_leaves_it_to_the_resolution_rule(seq, expected):
    assert _prepare(seq_meta(**seq))[2].per_visit_tables() is expected


@pytest.mark.parametrize("patients, per_visit", [(40, False), (4000, True)])
def test_on_a_short_schedule_per_visit_tables_come_where_they_keep_every_cell(patients, per_visit):
    from synth.preparation import visit_table_specs
    from synth.privacy.resolution import full_resolution
    _, _, enc, _, _, _ = _prepare(seq_meta())
    ledger = Ledger(1.0, 1e-5, patients)
    specs = visit_table_specs(enc, 2, ledger, 0.88)
    assert any(s.slots for s in specs) is per_visit
    candidate = sequence_table_specs(enc, per_visit=True)  # the rule: every slot table's cells at one stage's σ
    assert full_resolution([s for s in candidate if s.slots], len(candidate), 2, ledger, 0.8 * 0.88) is per_visit
    assert any(s.slots for s in visit_table_specs(enc, 2, Ledger(math.inf, 1e-5, 40), 0.88))  # exact tables


@pytest.mark.parametrize("seq, message", [
    ({"visit_tables": "each"}, "visit_tables must be \"per_visit\" or \"pooled\""),
    ({"visit_tables": "per_visit", "max_visits": None}, "needs a public max_visits"),
])
def test_bad_visit_tables_stop_in_one_line(seq, message):
    doc = seq_meta(**seq)
    doc["synth_sequence"] = {k: v for k, v in doc["synth_sequence"].items() if v is not None}
    with pytest.raises(SynthError, match=message):
        _prepare(doc)


@pytest.mark.parametrize("column, k", [("lab", 1), ("lab", 4), ("stage", 2)])
def test_a_slot_table_counts_each_patient_once_at_that_visit_or_in_no_visit(per_visit, column, k):
    df, _, enc, x, labels, _ = per_visit
    spec = _slot_table(enc, column, k)
    counts = spec.count(x, labels, 2)
    n_cells = spec.blocks[0].n_cells
    slow = np.zeros((2, n_cells + 1))
    for _, visits in df.sort_values(["pid", "day"]).groupby("pid"):
        label = 0 if visits["arm"].iloc[0] == "a" else 1
        if len(visits) <= k:
            slow[label, n_cells] += 1  # no visit k + 1
            continue
        value = visits[column].iloc[k]
        if column == "lab":
            cell = 10 if np.isnan(value) else min(int(value), 9)
        else:
            cell = {"1": 0, "2": 1}.get(value, 2)
        slow[label, cell] += 1
    assert slow[:, -1].sum() > 0 and slow[:, :-1].sum() > 0  # the fixture has patients with and without it
    np.testing.assert_allclose(counts, slow)
    for i in range(len(x)):  # one patient moves the table by 1 in one cell
        keep = np.arange(len(x)) != i
        diff = counts - spec.count(x[keep], labels[keep], 2)
        assert diff.sum() == 1.0 and np.abs(diff).sum() == 1.0


@pytest.mark.parametrize("column, k", [("lab", 1), ("stage", 3)])
def test_generator_slot_cells_equal_the_counted_table_for_sharp_logits(per_visit, column, k):
    _, _, enc, x, labels, _ = per_visit
    spec = _slot_table(enc, column, k)
    raw = torch.as_tensor(x, dtype=torch.float32) * 60.0  # sharp softmax at each one-hot cell
    soft = visit_slot_cells(raw, spec.blocks[0], spec.present_by, k)
    torch.testing.assert_close(soft.sum(dim=1), torch.ones(len(x)))
    counts = spec.count(x, labels, 2)
    for c in (0, 1):
        torch.testing.assert_close(soft[torch.as_tensor(labels == c)].sum(dim=0).double(),
                                   torch.as_tensor(counts[c]), atol=1e-4, rtol=0)


def test_a_pair_across_visits_keeps_the_no_visit_cell(per_visit):
    _, _, enc, x, labels, _ = per_visit
    first = next(s for s in sequence_table_specs(enc) if s.blocks[0].column == "lab@1")
    later = _slot_table(enc, "lab", 2)
    pair = pair_spec(first, later, None, None)
    assert pair.slots == (0, 2) and pair.shape(0) == (1, 11, 12)
    counts = pair.count(x, labels, 0)
    later_counts = later.count(x, labels, 2).sum(axis=0)
    np.testing.assert_allclose(counts[0].sum(axis=0), later_counts)  # its margin is the slot's table
    assert pair_spec(first, first, None, None).slots == ()  # no visit slot: a plain pair


def test_coarse_groups_keep_no_visit_with_missing_or_by_its_mass():
    from synth.encode.table import CellBlock
    visits = CellBlock("__visits", 0, 3, ordered=True)
    lab = CellBlock("lab@2", 3, 10, missing=13, ordered=True)
    counts = np.array([[5.0] * 10 + [3.0, 40.0]])  # 10 bins, missing, no visit 2
    table = MarginalTable((lab,), counts, present_by=visits, slots=(1,))
    groups = coarse_groups(table)
    assert len(groups) == 12 and groups[10] == groups[11] == groups.max() and len(set(groups[:10])) == 3
    stage = CellBlock("stage@2", 20, 3)
    cat = MarginalTable((stage,), np.array([[30.0, 1.0, 2.0, 50.0]]), present_by=visits, slots=(1,))
    np.testing.assert_array_equal(coarse_groups(cat, 3), [1, 2, 2, 0])  # "no visit" is the largest cell


def test_release_spends_one_step_per_table_and_may_pair_visits(per_visit):
    _, domain, enc, x, labels, _ = per_visit
    blocks, specs = enc.patient_cell_blocks(), sequence_table_specs(enc, per_visit=True)
    ledger = Ledger(math.inf, 1e-5, 30)
    tables, _ = release_tables(x, labels, TablePlan(2, blocks, [0.5, 0.5], singles=specs), ledger, np.random.default_rng(0))
    label_step, _, pair_step = ledger.mechanisms
    assert label_step.steps == len(specs) and pair_step.steps == len(specs) - 1
    assert "lab@3" in label_step.extra["tables"] and "stage@5" in label_step.extra["tables"]
    pairs = tables[len(specs):]
    assert any(t.slots for t in pairs)  # exact scores: some chosen pair holds a later visit slot
    loss = MarginalLoss(tables, [0.5, 0.5])
    assert not loss.sequences  # no stationarity term where each visit has its own table
    raw, y = torch.as_tensor(x, dtype=torch.float32) * 60.0, torch.as_tensor(labels)
    noise = torch.randn(raw.shape, generator=torch.Generator().manual_seed(0))
    assert float(loss(raw, y)) < 0.1 * float(loss(noise, y))  # the real patients nearly match their exact tables


def test_a_fit_with_per_visit_tables_names_them_in_its_ledger():
    df = make_visits(n=40, seed=4)
    doc = seq_meta(max_visits=3, visit_tables="per_visit")
    s = Synthesizer(epsilon=1.0, label="arm", epochs=1, pretrain_steps=20, seed=0).fit(df, doc)
    names = [n for m in s.ledger.to_dict()["mechanisms"] for n in (m.get("extra") or {}).get("tables", [])]
    assert "lab@2" in names and "stage@3" in names and s.info()["sequence"]["visit_tables"] == "per_visit"
    assert s.ledger.epsilon() <= 1.0 + 1e-9
    out = s.sample(10, seed=1)
    assert out["pid"].nunique() == 10 and out.groupby("pid").size().max() <= 3


def test_a_schedule_sets_max_visits_and_puts_every_sampled_visit_on_it(tmp_path):
    from synth.schema.sequence import sequence_layout
    df = make_visits(n=40, seed=5, max_len=3)
    df["day"] = np.array([0, 100, 200])[df.groupby("pid").cumcount()]  # visits on days 0, 100, 200
    doc = seq_meta(schedule=[200, 0, 100])
    del doc["synth_sequence"]["max_visits"]
    layout = sequence_layout(Metadata.load(doc), "arm")
    assert layout.schedule == [0.0, 100.0, 200.0] and layout.max_visits == 3 and layout.max_visits_source == "public"
    s = Synthesizer(epsilon=1.0, label="arm", epochs=1, pretrain_steps=20, seed=0).fit(df, doc)
    out = s.sample(50, seed=2)
    assert set(out["day"]) <= {0, 100, 200}
    assert not out.duplicated(["pid", "day"]).any() and out.groupby("pid").size().max() <= 3
    assert s.info()["sequence"]["schedule"] == [0.0, 100.0, 200.0]
    from synth.io.modelfile import read_model, write_model
    again = Synthesizer.load(s.save(tmp_path / "s.synth"))
    assert set(again.sample(30, seed=3)["day"]) <= {0, 100, 200}
    tensors, doc = read_model(tmp_path / "s.synth")
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    for forged in (["a"], [0.0] * 10**5, "0,100"):  # a forged file, its checksum recomputed
        doc["sequence"]["schedule"] = forged
        write_model(tmp_path / "forged.synth", tensors, doc)
        with pytest.raises(SynthError, match="its visit schedule is not a short list of numbers"):
            Synthesizer.load(tmp_path / "forged.synth")


def test_schedule_visits_moves_times_and_keeps_the_first_of_a_meeting():
    from synth.schema.sequence import schedule_visits
    times = np.array([[1.0, 40.0, 60.0, 190.0], [0.0, 5.0, 90.0, 400.0]])
    kept, moved = schedule_visits(np.array([4, 3]), times, [0.0, 100.0, 200.0])
    np.testing.assert_array_equal(moved, [[0, 0, 100, 200], [0, 0, 100, 200]])
    np.testing.assert_array_equal(kept, [[True, False, True, True], [True, False, True, False]])


@pytest.mark.parametrize("seq, message", [
    ({"schedule": [0, 0, 100]}, "schedule must list 1 to 100 distinct visit times within 'day''s range"),
    ({"schedule": [0, 600]}, "within 'day''s range \\(0 to 500\\)"),
    ({"schedule": "0,100"}, "must list"),
    ({"schedule": [0, 100], "max_visits": 3}, "max_visits \\(3\\) is more than the 2 scheduled visit times"),
])
def test_bad_schedules_stop_in_one_line(seq, message):
    with pytest.raises(SynthError, match=message):
        _prepare(seq_meta(**seq))


def test_a_real_visit_off_the_schedule_stops_the_fit():
    with pytest.raises(SynthError, match="some visits of 'day' are not at a time in synth_sequence.schedule"):
        _prepare(seq_meta(schedule=[0, 100, 200, 300, 400]))


def test_the_follow_up_end_wins_over_the_schedule():
    from synth.schema.sequence import schedule_visits
    times = np.array([[0.0, 60.0, 140.0], [0.0, 30.0, 40.0], [0.0, 140.0, 190.0]])
    end = np.array([140.0, 40.0, np.nan])  # 140 is nearer 100 than 200's 60; 40: nothing scheduled after 0 fits
    kept, moved = schedule_visits(np.array([3, 3, 3]), times, [0.0, 100.0, 200.0], end)
    np.testing.assert_array_equal(moved, [[0, 100, 100], [0, 0, 0], [0, 100, 200]])
    np.testing.assert_array_equal(kept, [[True, True, False], [True, False, False], [True, True, True]])
    assert (np.where(kept, moved, -1) <= np.nan_to_num(end, nan=np.inf)[:, None]).all()
    _, stays = schedule_visits(np.array([1]), np.array([[50.0]]), [100.0, 200.0], np.array([50.0]))
    assert stays[0, 0] == 50.0  # no scheduled time before the end: the end wins


def test_schedule_visits_equals_the_nearest_usable_time_found_one_by_one():
    from synth.schema.sequence import schedule_visits
    rng = np.random.default_rng(7)
    grid = np.sort(rng.choice(np.arange(0, 500, 7), size=9, replace=False)).astype(float)
    times = np.sort(rng.uniform(0, 500, (300, 6)), axis=1)
    end = np.where(rng.random(300) < 0.3, np.nan, rng.uniform(-20, 500, 300))
    _, moved = schedule_visits(np.full(300, 6), times, list(grid), end)
    for i in range(300):
        usable = grid[~(grid > end[i])]  # NaN end: every time
        for k in range(6):
            slow = times[i, k] if not len(usable) else usable[np.argmin(np.abs(usable - times[i, k]))]
            assert moved[i, k] == slow


def test_first_visit_at_must_be_a_scheduled_time():
    with pytest.raises(SynthError, match="first_visit_at \\(50\\) is not one of the scheduled visit times"):
        _prepare(seq_meta(schedule=[0, 100], first_visit_at=50, max_visits=2))
