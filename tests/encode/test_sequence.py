"""Visit sequences: long ↔ wide round trip, whole-patient privacy unit, output invariants, errors."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from synth import Synthesizer, SynthError, SynthWarning
from synth.schema.metadata import Metadata
from synth.privacy.ledger import Ledger
from synth.models.train import default_batch_size
from synth.schema.sequence import end_visits, start_visits
from synth.release.sequence import prepare_sequences
from tests.helpers.visits import FAST, SEQ_META, make_visits, seq_meta, with_follow_up_end


@pytest.fixture(scope="module")
def fitted():
    return Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_visits(), SEQ_META)


def test_long_to_padded_and_back_round_trips_variable_lengths_and_nan():
    df = make_visits(n=30)
    ledger = Ledger(math.inf, 1e-5, 30)
    domain, enc, wide = prepare_sequences(df, Metadata.load(SEQ_META), "arm", ledger, np.random.default_rng(0), "t")
    x = enc.encode(wide)
    assert x.shape[0] == 30  # one row per patient
    visits = wide["__visits"].astype(int).to_numpy()
    for k in range(1, 5):  # padded slots are exactly zero
        assert not x[np.ix_(visits <= k, enc.slot_positions[k])].any()
    labels = wide["arm"].map({"a": 0, "b": 1}).to_numpy()
    back = enc.to_long(enc.decode(x), domain.label, labels, 1, domain.all_columns, [])
    real = df.sort_values(["pid", "day"], kind="stable").reset_index(drop=True)
    assert len(back) == len(real)
    np.testing.assert_array_equal(back["day"].to_numpy(), real["day"].to_numpy())
    np.testing.assert_allclose(back["lab"].to_numpy(float), real["lab"].to_numpy(float), atol=1e-5)
    assert back["stage"].isna().tolist() == real["stage"].isna().tolist()
    assert back["arm"].tolist() == real["arm"].tolist() and back["age"].tolist() == real["age"].tolist()


def test_visit_times_are_on_the_duration_scale_and_other_columns_keep_theirs():
    ledger = Ledger(math.inf, 1e-5, 30)
    domain, _, _ = prepare_sequences(make_visits(n=30), Metadata.load(SEQ_META), "arm", ledger,
                                     np.random.default_rng(0), "t")
    scales = {c.name: c.scale for c in domain.columns if c.kind == "numerical"}
    assert {c for c, s in scales.items() if s == "duration"} == {"day@1"} | {f"__gap@{k}" for k in range(2, 6)}
    assert {s for c, s in scales.items() if c.startswith(("age", "lab@"))} == {"linear"}
    meta = seq_meta()
    meta["tables"]["visits"]["columns"]["day"].update(range_min=1, synth_scale="log")
    domain, _, _ = prepare_sequences(make_visits(n=30).assign(day=lambda d: d["day"] + 1), Metadata.load(meta),
                                     "arm", ledger, np.random.default_rng(0), "t")
    scales = {c.name: c.scale for c in domain.columns}
    assert scales["day@1"] == "log" and scales["__gap@2"] == "duration"  # the user's scale for the first visit


def test_mask_zeroes_generated_padding_after_the_visit_count():
    ledger = Ledger(math.inf, 1e-5, 30)
    _, enc, wide = prepare_sequences(make_visits(n=30), Metadata.load(SEQ_META), "arm", ledger,
                                     np.random.default_rng(0), "t")
    fake = torch.ones(2, enc.width)
    s = enc.visits_span
    fake[:, s.start:s.start + s.width] = 0
    fake[0, s.start + 1] = 1  # 2 visits
    fake[1, s.start + 4] = 1  # 5 visits
    out = enc.mask(fake)
    assert out[0, enc.slot_positions[2]].abs().sum() == 0 and out[0, enc.slot_positions[1]].min() == 1
    assert out[1, enc.slot_positions[4]].min() == 1


def test_privacy_unit_is_a_patient_and_poisson_draws_patients(fitted):
    led = fitted.ledger
    assert led.privacy_unit == "one patient (all of their visits)"
    assert led.n_patients_source.startswith("dp") and led.mechanisms[0].name == "count:patients"
    sgd = led.mechanisms[-1]
    assert sgd.name == "dp_sgd:discriminator"
    # batches over the released count of patients, not visits
    assert sgd.sample_rate == pytest.approx(1 / math.ceil(led.n_patients / default_batch_size(led.n_patients)))
    assert 0.99 <= led.epsilon() <= 1.0


def test_a_public_patient_count_sets_the_poisson_rate_over_patients_not_visits():
    df = make_visits()
    meta = Metadata.load({**SEQ_META, "synth_patients": 40})
    fitted = Synthesizer(epsilon=1.0, label="arm", **{**FAST, "epochs": 1, "pretrain_steps": 0}).fit(df, meta)
    assert len(df) > 80 and fitted.ledger.n_patients == 40  # about 3 visits a patient
    assert fitted.ledger.mechanisms[-1].sample_rate == pytest.approx(1 / math.ceil(40 / 8))


def test_sampled_visits_keep_the_invariants(fitted):
    df = fitted.sample(50, seed=3)
    real = make_visits()
    assert list(df.columns) == list(real.columns)
    assert df["pid"].nunique() == 50 and set(df["pid"]) == set(range(1, 51))  # fresh ids
    per = df.groupby("pid")
    assert (per["arm"].nunique() == 1).all() and (per["age"].nunique() == 1).all()  # statics constant
    assert per["day"].apply(lambda s: s.is_monotonic_increasing).all()  # visits sorted
    assert per.size().between(1, 5).all()
    assert df["day"].between(0, 500).all() and df["lab"].dropna().between(0, 10).all()
    assert df["day"].dtype == np.int64 and df["age"].dtype == np.int64


def test_visits_beyond_max_visits_are_dropped_and_counted():
    df = make_visits(n=40, max_len=6)
    over = int((df.groupby("pid").size() > 3).sum())
    s = Synthesizer(epsilon=math.inf, label="arm", **FAST).fit(df, seq_meta(max_visits=3))
    assert s.info()["sequence"]["patients_over_max_visits_dp"] == over  # exact at ε = ∞
    assert s.sample(30).groupby("pid").size().max() <= 3
    dp = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, seq_meta(max_visits=3))
    assert "count:patients_over_max_visits" in [m.name for m in dp.ledger.mechanisms]


def test_max_visits_estimated_under_dp_when_not_public():
    m = copy.deepcopy(SEQ_META)
    del m["synth_sequence"]["max_visits"]
    with pytest.raises(SynthError, match="too few patients .* max_visits.*; give .* in the metadata$") as err:
        Synthesizer(epsilon=1.0, noise_seed=0, **FAST).fit(make_visits(n=20), m)  # a fixed stream: not flaky
    assert "__visit_count" not in str(err.value)
    private = copy.deepcopy(m)  # a second column DP cannot release is named in the same error
    next(iter(private["tables"].values()))["columns"]["age"]["range_public"] = False
    with pytest.raises(SynthError, match="max_visits under DP; .*; column 'age': too few patients to estimate its "
                                         "bounds under DP; give range_min/range_max in the metadata$"):
        Synthesizer(epsilon=1.0, noise_seed=0, **FAST).fit(make_visits(n=20), private)
    s = Synthesizer(epsilon=1.0, **FAST).fit(make_visits(n=1000), m)
    names = [x.name for x in s.ledger.mechanisms]
    assert "bounds:__visit_count" in names
    assert s.info()["sequence"]["max_visits_source"] == "dp" and s.info()["sequence"]["max_visits"] >= 1


@pytest.mark.parametrize("change, message", [
    (lambda df: df.drop(columns=["pid"]), "column 'pid' from the metadata is not in"),
    (lambda df: df.assign(day=df["day"].where(df.index != 3)), "sequence_index 'day' is missing in some rows"),
    (lambda df: df.assign(age=df["age"] + (df.groupby("pid").cumcount() > 0) * (df["pid"] < 105)),
     "static column 'age' varies within some patients"),
    # later visits are checked against the public metadata too, not only first visits
    (lambda df: df.assign(stage=df["stage"].where(df.groupby("pid").cumcount() == 0, "9")),
     "column 'stage' holds a value outside its range_values at some visit"),
])
def test_bad_sequences_get_one_line_errors(change, message):
    with pytest.raises(SynthError, match=message):
        Synthesizer(epsilon=1.0, **FAST).fit(change(make_visits()), SEQ_META)


def test_missing_values_at_later_visits_of_a_non_nullable_column_are_an_error():
    m = copy.deepcopy(SEQ_META)
    m["tables"]["visits"]["columns"]["lab"]["range_is_nullable"] = False
    df = make_visits()
    df["lab"] = df["lab"].fillna(5.0)
    later = df.index[df.groupby("pid").cumcount() == 1][0]
    df.loc[later, "lab"] = np.nan
    with pytest.raises(SynthError, match="'lab' has missing values at some visits"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, m)


def test_label_must_be_static():
    with pytest.raises(SynthError, match="must be a static column"):
        Synthesizer(epsilon=1.0, label="stage", **FAST).fit(make_visits(), SEQ_META)


def test_sequence_model_file_round_trips(fitted, tmp_path):
    path = fitted.save(tmp_path / "v.synth")
    again = Synthesizer.load(path)
    pd.testing.assert_frame_equal(again.sample(20, seed=1), fitted.sample(20, seed=1))


def test_a_temporal_column_left_with_one_category_is_warned_about_once_by_its_own_name():
    m = copy.deepcopy(SEQ_META)
    next(iter(m["tables"].values()))["columns"]["stage"]["range_public"] = False
    df = make_visits(n=3000)
    df["stage"] = "1"
    df.loc[df.index[:20], "stage"] = "2"  # too rare to be released at ε = 1
    with pytest.warns(SynthWarning) as caught:
        prepare_sequences(df, Metadata.load(m), "arm", Ledger(1.0, 1e-7, 3000), np.random.default_rng(0), "t")
    assert [str(w.message)[:60] for w in caught if issubclass(w.category, SynthWarning)] == [
        "column 'stage': DP category discovery released only 1, so ev"]


def _ended_slowly(visits, times, end):
    """end_visits, one patient and one visit at a time."""
    counts, out = [], times.copy()
    for i in range(len(visits)):
        if np.isnan(end[i]):
            counts.append(visits[i])
            continue
        out[i, 0] = min(times[i, 0], end[i])
        counts.append(max(1, sum(1 for k in range(visits[i]) if times[i, k] <= end[i])))
    return np.array(counts), out


def test_end_visits_drops_visits_after_the_end_and_keeps_the_first_at_the_end():
    visits = np.array([3, 3, 2, 3])
    times = np.array([[0.0, 10, 20], [0, 10, 20], [30, 40, 0], [5, 6, 7]])
    counts, ended = end_visits(visits, times, np.array([15.0, 20, 12, np.nan]))
    assert counts.tolist() == [2, 3, 1, 3]  # slot 3 of patient 3 is padding: never counted
    assert ended[:, 0].tolist() == [0, 0, 12, 5] and times[2, 0] == 30  # a new array
    rng = np.random.default_rng(1)
    for _ in range(20):
        n, m = 50, 6
        visits = rng.integers(1, m + 1, n)
        times = np.cumsum(rng.integers(0, 50, (n, m)).astype(float), axis=1)
        end = np.where(rng.random(n) < 0.1, np.nan, rng.integers(0, 250, n).astype(float))
        fast, slow = end_visits(visits, times, end), _ended_slowly(visits, times, end)
        np.testing.assert_array_equal(fast[0], slow[0])
        np.testing.assert_array_equal(fast[1], slow[1])


@pytest.mark.parametrize("end", ["lab", "arm", "nope"])
def test_follow_up_end_must_name_a_static_column_on_the_index_scale(end):
    df, m = with_follow_up_end(make_visits())
    m["synth_sequence"]["follow_up_end"] = end
    with pytest.raises(SynthError, match=f"follow_up_end '{end}' must name a static column .*numerical"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, m)


def test_a_visit_after_the_follow_up_end_is_an_error_at_fit():
    df, m = with_follow_up_end(make_visits())
    df.loc[df["pid"] == 100, "stop"] = df.loc[df["pid"] == 100, "day"].max() - 1
    with pytest.raises(SynthError, match=r"some visits come after their patient's 'stop'"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, m)


def test_sampled_visits_end_at_the_follow_up_end_and_the_model_file_keeps_it(tmp_path):
    df, m = with_follow_up_end(make_visits())
    s = Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(df, m)  # a fixed fit: the rule must have work
    ended = s.sample(300, seed=2)
    assert (ended["day"] <= ended["stop"]).all()
    s._state()["encoder"].layout.end = None  # the same generator, visits not ended
    free = s.sample(300, seed=2)
    assert (free["day"] > free["stop"]).any()  # so the rule had work to do
    # the ended sample is the free one with the rule applied visit by visit
    key = free.groupby("pid").cumcount()
    first = key == 0
    slow = free[first | (free["day"] <= free["stop"])].copy()
    slow.loc[first, "day"] = np.minimum(slow.loc[first, "day"], slow.loc[first, "stop"])
    pd.testing.assert_frame_equal(ended, slow.reset_index(drop=True))
    s._state()["encoder"].layout.end = "stop"
    again = Synthesizer.load(s.save(tmp_path / "end.synth"))
    assert again.info()["sequence"]["end"] == "stop"
    pd.testing.assert_frame_equal(again.sample(300, seed=2), ended)


def test_a_version_3_sequence_model_without_a_follow_up_end_still_loads(fitted, tmp_path, monkeypatch):
    import synth.io.modelfile as mf

    tensors, doc = mf.read_model(fitted.save(tmp_path / "v4.synth"))
    assert doc["sequence"]["end"] is None
    doc = {k: v for k, v in doc.items() if k not in ("format", "format_version")}
    del doc["sequence"]["end"]  # what a version-3 file holds
    monkeypatch.setattr(mf, "FORMAT_VERSION", 3)
    mf.write_model(tmp_path / "v3.synth", tensors, doc)
    pd.testing.assert_frame_equal(Synthesizer.load(tmp_path / "v3.synth").sample(20, seed=1),
                                  fitted.sample(20, seed=1))


def test_start_visits_moves_each_patient_so_the_first_visit_is_at_the_start_and_keeps_the_gaps():
    times = np.array([[30.0, 40, 70], [0, 5, 5]])
    np.testing.assert_array_equal(start_visits(times, 10.0), [[10, 20, 50], [10, 15, 15]])
    assert times[0, 0] == 30  # a new array
    # a start later than the first visit moves visits later: none past the range's maximum
    np.testing.assert_array_equal(start_visits(np.array([[0.0, 100, 400]]), 200.0, 500.0), [[200, 300, 500]])


@pytest.mark.parametrize("start", ["0", True, 600, -1])
def test_first_visit_at_must_be_a_number_in_the_index_range(start):
    with pytest.raises(SynthError, match=r"first_visit_at must be a number in the range of the numerical "
                                         r"sequence_index 'day' \(0 to 500\), got"):
        Synthesizer(epsilon=1.0, **FAST).fit(make_visits(), seq_meta(first_visit_at=start))


def _from_baseline(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(day=df["day"] - df.groupby("pid")["day"].transform("min"))


def test_a_first_visit_elsewhere_than_first_visit_at_is_an_error_at_fit():
    df = _from_baseline(make_visits())
    df.loc[df["pid"].isin([100, 101]), "day"] += 3
    with pytest.raises(SynthError, match=r"some patients have their first visit at another 'day' than 0"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, seq_meta(first_visit_at=0))


def test_sampled_visits_start_at_first_visit_at_then_end_at_the_follow_up_end(tmp_path):
    df, m = with_follow_up_end(_from_baseline(make_visits()))
    m["synth_sequence"]["first_visit_at"] = 0
    s = Synthesizer(epsilon=1.0, label="arm", **FAST).fit(df, m)
    both = s.sample(300, seed=4)
    layout = s._state()["encoder"].layout
    layout.start, layout.end = None, None  # the same draws, as generated
    free = s.sample(300, seed=4)
    assert (free.groupby("pid")["day"].min() > 0).any()  # so the rule had work to do
    # slowly: move each patient's visits by their first visit's day, then drop those after 'stop'
    moved = free.assign(day=free["day"] - free.groupby("pid")["day"].transform("min"))
    slow = moved[(moved.groupby("pid").cumcount() == 0) | (moved["day"] <= moved["stop"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(both, slow, check_exact=False, atol=1)  # rounding before or after the move
    assert (both.groupby("pid")["day"].min() == 0).all() and (both["day"] <= both["stop"]).all()
    layout.start, layout.end = 0.0, "stop"
    again = Synthesizer.load(s.save(tmp_path / "start.synth"))
    assert again.info()["sequence"]["start"] == 0
    pd.testing.assert_frame_equal(again.sample(300, seed=4), both)


def test_an_unknown_synth_sequence_key_is_named_in_a_warning_not_ignored_silently():
    from synth.schema.sequence import sequence_layout

    with pytest.warns(SynthWarning, match=r"synth_sequence\.visits_at is not a key synth reads"):
        sequence_layout(Metadata.load(seq_meta(visits_at=[0, 1, 2])), "arm")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SynthWarning)
        sequence_layout(Metadata.load(seq_meta()), "arm")  # the keys synth reads: no warning
