"""The streaming sampler (slices drawn beside the forward passes, decoded straight to Arrow,
written while the next are drawn) writes the same bytes as the reference path: whole chunks
through the generator, decoded to pandas, rounded, the inequalities applied, then written."""

import threading

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.io.csv_out import in_background, write_csv_batches, write_csv_chunks
from synth.models.sampling import sample_chunks
from synth.schema.implications import apply_implications, read_implications
from synth.encode.inequalities import apply_inequalities
from tests.conftest import FAST, TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits

CHUNK = 5_000  # with 4,096-row slices: a full slice and a partial one per chunk, then a shorter last chunk


def reference_csv(s: Synthesizer, path, n: int, seed: int, condition=None) -> bytes:
    """The path every CSV took before the streaming sampler, chunk by chunk."""
    written, rule = s._rules(n)
    st = s._state()
    chunks = sample_chunks(st["generator"], st["encoder"], st["domain"], n, seed, s._label_index(condition), CHUNK,
                           slice_rows=None)
    implied = read_implications(st["meta"])
    write_csv_chunks(path, (apply_implications(apply_inequalities(written.round(chunk), *rule), implied)
                            for chunk in chunks))
    return path.read_bytes()


def _wide_trial():
    """make_trial with a column of every kind the decoder writes differently, two inequalities
    and two implications."""
    df = make_trial(200)
    rng = np.random.default_rng(1)
    n = len(df)
    df["weight"] = df["weight"].clip(30, 150)
    df["note"] = [f"free text {i}" for i in range(n)]
    df["dose"] = pd.Series(rng.choice([0, 0.5, "x", None], size=n), dtype=object)
    df["grade"] = pd.Series(rng.choice([1, 2, 3], size=n), dtype="Int64").where(rng.random(n) > 0.2)
    df["tested"] = pd.Series(rng.random(n) < 0.5, dtype="boolean").where(rng.random(n) > 0.2)
    df["bmi"] = np.where(rng.random(n) < 0.1, np.nan, np.round(rng.normal(25, 4, n), 1)).clip(15, 45)
    df["lab"] = rng.lognormal(0, 1, n).clip(0.01, 50)
    df["lab_hi"] = (df["lab"] + rng.random(n)).clip(upper=60)
    last = pd.to_datetime(df["visit"]) + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    df["last_visit"] = last.clip(upper=pd.Timestamp("2023-12-31")).dt.strftime("%Y-%m-%d")
    meta = {**TRIAL_META, "tables": {"trial": {**TRIAL_META["tables"]["trial"]}}}
    cols = meta["tables"]["trial"]["columns"] = dict(TRIAL_META["tables"]["trial"]["columns"])
    cols.update({
        "note": {"sdtype": "pii"},
        "dose": {"sdtype": "categorical", "range_values": [0, 0.5, "x"], "range_is_nullable": True},
        "grade": {"sdtype": "categorical", "range_values": [1, 2, 3], "range_is_nullable": True},
        "tested": {"sdtype": "boolean", "range_is_nullable": True},
        "bmi": {"sdtype": "numerical", "range_min": 15, "range_max": 45, "range_is_nullable": True,
                "synth_decimals": 1},
        "lab": {"sdtype": "numerical", "range_min": 0.01, "range_max": 50, "range_is_nullable": False},
        "lab_hi": {"sdtype": "numerical", "range_min": 0.01, "range_max": 60, "range_is_nullable": False},
        "last_visit": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2019-01-01",
                       "range_max": "2023-12-31", "range_is_nullable": False}})
    meta["synth_inequalities"] = [{"low": "lab", "high": "lab_hi"}, {"low": "visit", "high": "last_visit"},
                                  {"if": {"column": "lab", "below": 0.5}, "then": {"column": "dose", "is": "x"}},
                                  {"if": {"column": "bmi", "at_least": 30}, "then": {"column": "grade", "is": 3}}]
    df.loc[df["lab"] < 0.5, "dose"] = "x"
    df.loc[(df["bmi"] >= 30) & df["grade"].notna(), "grade"] = 3
    return df, meta


@pytest.fixture(scope="module")
def wide():
    df, meta = _wide_trial()
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(df, meta)


@pytest.fixture(scope="module")
def visits():
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(make_visits(), SEQ_META)


@pytest.mark.parametrize("n, seed, condition", [(12_345, 7, None), (4_097, 3, "arm=drug"), (1, 0, None)])
def test_a_table_streams_the_reference_bytes(wide, tmp_path, n, seed, condition):
    expected = reference_csv(wide, tmp_path / "reference.csv", n, seed, condition)
    wide.write_csv(tmp_path / "streamed.csv", n, seed=seed, condition=condition, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
    text = expected.decode()
    assert text.count("\n") == n + 1
    if n > 1_000:  # nulls, a mixed category, pii placeholders, the constrained columns
        assert ",," in text and '"x"' in text and f"note_{n}" in text and "last_visit" in text


def test_the_bundled_table_streams_the_reference_bytes(tmp_path):
    s = Synthesizer(epsilon=1.0, label="cens", noise_seed=0, **FAST).fit("data/actg175.csv", "data/actg175.json")
    expected = reference_csv(s, tmp_path / "reference.csv", 9_001, 5)
    s.write_csv(tmp_path / "streamed.csv", 9_001, seed=5, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected


def test_visit_sequences_stream_the_reference_bytes(visits, tmp_path):
    expected = reference_csv(visits, tmp_path / "reference.csv", 9_001, 11)
    visits.write_csv(tmp_path / "streamed.csv", 9_001, seed=11, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
    ids = pd.read_csv(tmp_path / "streamed.csv")["pid"]
    assert ids.is_monotonic_increasing and ids.iloc[-1] == 9_001  # whole patients, in order, across slices


def test_the_sliced_generator_gives_the_rows_of_whole_chunks(wide):
    st = wide._state()
    args = (st["generator"], st["encoder"], st["domain"], 6_000, 2, None, CHUNK)
    sliced = pd.concat(sample_chunks(*args), ignore_index=True)
    whole = pd.concat(sample_chunks(*args, slice_rows=None), ignore_index=True)
    pd.testing.assert_frame_equal(sliced, whole)


def test_background_stages_keep_order_and_raise_what_their_work_raises():
    workers = set()

    def square(x):
        workers.add(threading.get_ident())
        return x * x

    assert list(in_background(square, range(50), pending=3)) == [x * x for x in range(50)]
    assert workers and threading.get_ident() not in workers

    def fails(x):
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.raises(ValueError, match="seven"):
        list(in_background(fails, range(20)))


def test_the_writer_closes_its_file_when_the_rows_fail(tmp_path):
    import pyarrow as pa

    def batches():
        yield pa.record_batch({"a": [1, 2]})
        raise RuntimeError("drawing failed")

    with pytest.raises(RuntimeError, match="drawing failed"):
        write_csv_batches(tmp_path / "x.csv", batches())
    assert (tmp_path / "x.csv").read_text() == '"a"\n1\n2\n'


def test_a_failed_write_stops_the_drawing(tmp_path):
    import pyarrow as pa

    closed = []

    def batches():
        try:
            while True:
                yield pa.record_batch({"a": [1]})
        finally:
            closed.append(True)

    with pytest.raises(OSError):
        write_csv_batches(tmp_path / "missing" / "x.csv", batches())
    assert closed


def test_a_failing_first_slice_raises_instead_of_hanging(wide, tmp_path, monkeypatch):
    from synth.io import arrow_rows

    real = arrow_rows.ArrowRows._batch

    def failing(self, first, *rest):
        if first == 0:
            raise ValueError("first slice")
        return real(self, first, *rest)

    monkeypatch.setattr(arrow_rows.ArrowRows, "_batch", failing)
    with pytest.raises(ValueError, match="first slice"):
        wide.write_csv(tmp_path / "x.csv", 3 * CHUNK, seed=1, chunk_size=CHUNK)
    assert not (tmp_path / "x.csv").exists()
