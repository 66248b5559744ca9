"""Scheduled visits as slots (issue #48): encoding, the attendance release, sampling, errors."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from synth import Synthesizer, SynthError
from synth.release.sequence import prepare_sequences
from synth.models.probabilities import visit_weights
from synth.models.marginal_loss import MarginalLoss
from synth.release.attendance import concentrated
from synth.privacy.ledger import Ledger
from synth.privacy.marginals import TableSpec
from synth.privacy.resolution import sequence_table_specs
from synth.schema.metadata import Metadata
from synth.schema.slots import ATTENDANCE, patterns, presence
from tests.helpers.visits import FAST, SEQ_META, make_visits

SCHEDULE = [0, 30, 60, 90]


def scheduled(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Visits at 0, 30, 60, 90; every third patient misses day 30, every fifth stops after day 30."""
    df = make_visits(n, seed)
    df = df[df.groupby("pid").cumcount() < 1].copy()
    rows = []
    for _, r in df.iterrows():
        for k, day in enumerate(SCHEDULE):
            if (r["pid"] % 3 == 0 and day == 30) or (r["pid"] % 5 == 0 and day > 30):
                continue
            rows.append({**r.to_dict(), "day": day, "lab": float(k) + 0.5, "stage": ["1", "2"][k % 2]})
    return pd.DataFrame(rows)


def meta(**seq) -> dict:
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"] = {"static_columns": ["arm", "age"], "schedule": SCHEDULE, **seq}
    return m


def test_patterns_keep_the_baseline_and_list_the_complete_one_first():
    cells = patterns(4)
    assert len(cells) == 8 and cells[0] == "1111" and all(c[0] == "1" for c in cells)
    assert patterns(4, complete=True) == ["1111"]
    assert presence(["1011"]).tolist() == [[1.0, 0.0, 1.0, 1.0]]


def test_slots_round_trip_at_the_scheduled_times():
    df = scheduled()
    domain, enc, wide = prepare_sequences(df, Metadata.load(meta()), "arm", Ledger(math.inf, 1e-5, 40),
                                          np.random.default_rng(0), "t")
    assert enc.layout.slots and not any(c.name.startswith(("day@", "__gap")) for c in domain.columns)
    x = enc.encode(wide)
    labels = wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    back = enc.to_long(enc.decode(x), domain.label, labels, 1, domain.all_columns, [])
    real = df.sort_values(["pid", "day"], kind="stable").reset_index(drop=True)
    assert back["day"].tolist() == real["day"].tolist()
    np.testing.assert_allclose(back["lab"].to_numpy(float), real["lab"].to_numpy(float), atol=1e-5)
    assert back.groupby("pid").size().tolist() == real.groupby("pid").size().tolist()
    # a missed slot is padding, exactly zero
    attended = presence(patterns(4))[wide[ATTENDANCE].map({c: i for i, c in enumerate(patterns(4))})]
    assert not x[np.ix_(attended[:, 1] < 0.5, enc.slot_positions[1])].any()


def test_a_pattern_table_counts_each_patient_once_and_the_generator_side_agrees():
    df = scheduled()
    domain, enc, wide = prepare_sequences(df, Metadata.load(meta()), "arm", Ledger(math.inf, 1e-5, 40),
                                          np.random.default_rng(0), "t")
    x = enc.encode(wide)
    y = wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    for spec in sequence_table_specs(enc, per_visit=True) + sequence_table_specs(enc, per_visit=False):
        counts = spec.count(x, y, 2)
        assert np.allclose(counts.sum(axis=tuple(range(1, counts.ndim))), np.bincount(y, minlength=2))
    block = enc.attendance_block()
    pooled, present = visit_weights(torch.as_tensor(x, dtype=torch.float32) * 50, block)
    assert torch.allclose(pooled.sum(dim=1), torch.ones(len(x)), atol=1e-4)  # weight 1 per patient
    assert torch.equal(present.round(), torch.as_tensor(attended_of(wide), dtype=torch.float32))


def attended_of(wide: pd.DataFrame) -> np.ndarray:
    return presence(patterns(4))[wide[ATTENDANCE].map({c: i for i, c in enumerate(patterns(4))})]


def test_the_estimator_says_complete_at_40_patients_with_high_probability():
    rng = np.random.default_rng(1)
    true = np.zeros(16)
    true[0] = 40
    sigma = 10.0  # the attendance table's σ at ε = 1 on the fixtures is 7-11
    said = [concentrated(true + rng.normal(0, sigma, 16), sigma, 40.0) for _ in range(500)]
    assert np.mean([s[0] == 40 for s in said]) >= 0.9
    assert all(math.isclose(s.sum(), 40) and (s >= 0).all() for s in said)


def test_a_fit_on_slots_samples_visits_on_the_schedule_and_complete_attendance_is_kept():
    df = scheduled()
    df = df[df.groupby("pid")["day"].transform("size") == 4]
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, meta(attendance="complete"))
    assert not any(m.name == "marginals:attendance" for m in s.ledger.mechanisms)
    syn = s.sample(50, seed=1)
    assert set(syn["day"]) <= set(SCHEDULE)
    assert (syn.groupby("pid").size() == 4).all()
    released = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(scheduled(), meta())
    assert any(m.name == "marginals:attendance" for m in released.ledger.mechanisms)
    syn = released.sample(50, seed=1)
    assert set(syn["day"]) <= set(SCHEDULE) and not syn.duplicated(["pid", "day"]).any()
    assert (syn.groupby("pid")["day"].min() == 0).all()


def test_a_slot_model_file_round_trips(tmp_path):
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(scheduled(), meta())
    back = Synthesizer.load(s.save(tmp_path / "m.synth"))
    pd.testing.assert_frame_equal(back.sample(20, seed=3), s.sample(20, seed=3))


@pytest.mark.parametrize("change, message", [
    (lambda d: d[~((d["pid"] == 101) & (d["day"] == 60))], "attendance: \"complete\""),
    (lambda d: d[~(d["day"] == 0)], "first time of synth_sequence.schedule"),
    (lambda d: pd.concat([d, d.iloc[:1]]), "two visits at one time")])
def test_slot_errors_name_the_statement_not_the_counts(change, message):
    df = scheduled()
    df = change(df[df.groupby("pid")["day"].transform("size") == 4])
    with pytest.raises(SynthError, match=message) as err:
        Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, meta(attendance="complete"))
    assert "\n" not in str(err.value)


def test_attendance_needs_a_short_schedule():
    m = meta(attendance="all")
    with pytest.raises(SynthError, match="attendance can only be"):
        Synthesizer(epsilon=1.0, label="arm", **FAST).fit(scheduled(), m)
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"]["attendance"] = "complete"
    with pytest.raises(SynthError, match="attendance can only be"):
        Synthesizer(epsilon=1.0, label="arm", **FAST).fit(scheduled(), m)


def test_an_old_layout_without_slots_reads_as_before():
    from synth.schema.sequence import SequenceLayout

    layout = SequenceLayout.from_dict({"key": "pid", "index": "day", "static": [], "temporal": ["lab"],
                                       "max_visits": 3, "schedule": [0.0, 1.0, 2.0]})
    assert layout.slots is False and layout.attendance is None
    assert MarginalLoss is not None and TableSpec is not None


def test_a_version_7_file_with_a_schedule_still_samples_by_moving_visits(tmp_path, monkeypatch):
    """Before version 8 a schedule's visits were drawn as times and moved to the nearest scheduled
    one; such a file (here a schedule too long for slots, which keeps that path) loads as it was."""
    import synth.io.modelfile as mf

    long_schedule = [0, 50, 100, 150, 200, 250, 300, 350]
    df = make_visits(30)
    df = df.assign(day=np.asarray(long_schedule)[df.groupby("pid").cumcount().to_numpy()])
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"] = {"static_columns": ["arm", "age"], "schedule": long_schedule}
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    assert not s._state()["encoder"].layout.slots
    tensors, doc = mf.read_model(s.save(tmp_path / "new.synth"))
    for key in ("slots", "attendance"):
        doc["sequence"].pop(key)
    monkeypatch.setattr(mf, "FORMAT_VERSION", 7)
    mf.write_model(tmp_path / "v7.synth", tensors, {k: v for k, v in doc.items() if k not in ("format", "format_version")})
    back = Synthesizer.load(tmp_path / "v7.synth")
    assert set(back.sample(20, seed=2)["day"]) <= set(long_schedule)


def test_the_generator_side_of_a_slot_pair_table_matches_its_exact_counts():
    from synth.models.slot_pair_loss import SlotPairTerm
    from synth.privacy.marginals import MarginalTable
    from synth.release.slot_pairs import slot_pair_specs

    df = scheduled()
    domain, enc, wide = prepare_sequences(df, Metadata.load(meta()), "arm", Ledger(math.inf, 1e-5, 40),
                                          np.random.default_rng(0), "t")
    x = enc.encode(wide)
    by_name = {b.column: b for b in enc.cell_blocks}
    slots = {c: tuple(by_name[f"{c}@{k + 1}"] for k in range(4)) for c in ("lab", "stage")}
    for spec in slot_pair_specs(slots, enc.attendance_block(), {}):
        counts = spec.count(x)
        patients_with_pairs = (attended_of(wide).sum(axis=1) >= 2).sum()
        assert math.isclose(counts.sum(), patients_with_pairs)  # each such patient adds 1 in all
        table = MarginalTable(spec.blocks, counts, (), by_label=False, pooled_by=spec.attendance,
                              over_slot_pairs=True)
        raw = torch.as_tensor(x, dtype=torch.float32) * 60  # one-hot rows: the softmax is the row
        assert float(SlotPairTerm([table])(raw)) < 1e-6
