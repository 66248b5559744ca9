"""The streaming sampler (slices drawn beside the forward passes, decoded straight to Arrow,
written while the next are drawn) writes the same bytes as the reference path: whole chunks
through the generator, decoded to pandas, rounded, the inequalities applied, then written."""

import copy
import io
import threading

import numpy as np
import pandas as pd
import pytest

from synth import Synthesizer
from synth.sample.arrow_rows import ArrowRows, types_hold
from synth.sample.csv_out import in_background, write_csv_batches, write_csv_chunks
from synth.sample.draw import sample_chunks
from synth.schema.implications import Implication, read_implications
from synth.sample.rules import apply_implications, apply_inequalities
from tests.conftest import FAST, TRIAL_META, make_trial
from tests.encode.test_slots import meta as slots_meta, scheduled
from tests.helpers.visits import SEQ_META, make_visits, with_follow_up_end

CHUNK = 5_000  # with 4,096-row slices: a full slice and a partial one per chunk, then a shorter last chunk


def reference_csv(s: Synthesizer, path, n: int, seed: int, condition=None) -> bytes:
    """The path every CSV took before the streaming sampler, chunk by chunk."""
    written, rule = s._rules(n)
    st = s._state()
    chunks = sample_chunks(st["generator"], st["encoder"], st["domain"], n, seed, label_index=s._label_index(condition),
                           chunk_size=CHUNK, slice_rows=None)
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
    df.loc[rng.random(n) < 0.15, "arm"] = None  # the label may be missing: its own class
    cols["arm"] = {**cols["arm"], "range_is_nullable": True}
    return df, meta


def _rich_visits():
    """Visits with a column of every kind the visit decoder writes differently (a pii and a visit
    id column, a nullable boolean, integer categories, decimals, dates at each visit and once a
    patient), a follow-up end, a first visit at 0, an inequality and an implication."""
    df = make_visits(120, seed=3)
    df, meta = with_follow_up_end(df.assign(day=df["day"] - df.groupby("pid")["day"].transform("min")))
    rng = np.random.default_rng(2)
    n, patients = len(df), df["pid"].unique()
    df["name"] = [f"person {p}" for p in df["pid"]]
    df["vid"] = [f"v{i}" for i in range(n)]
    df["flag"] = pd.Series(rng.random(n) < 0.5, dtype="boolean").where(rng.random(n) > 0.2)
    df["dose"] = pd.Series(rng.choice([1, 2, 3], size=n), dtype="Int64").where(rng.random(n) > 0.2)
    df.loc[(df["lab"] < 4) & df["dose"].notna(), "dose"] = 1
    df["ldl"] = np.round(rng.uniform(1, 5, n), 2)
    df["ldl_hi"] = np.round(df["ldl"] + rng.uniform(0, 2, n), 2)
    df["seen"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], unit="D")).dt.strftime("%Y-%m-%d")
    enrolled = pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 300, len(patients)), unit="D")
    df["enrolled"] = df["pid"].map(dict(zip(patients, enrolled.strftime("%Y-%m-%d"))))
    meta["tables"]["visits"]["columns"].update({
        "name": {"sdtype": "pii"}, "vid": {"sdtype": "id"},
        "flag": {"sdtype": "boolean", "range_is_nullable": True},
        "dose": {"sdtype": "categorical", "range_values": [1, 2, 3], "range_is_nullable": True},
        "ldl": {"sdtype": "numerical", "range_min": 0, "range_max": 10, "range_is_nullable": False,
                "synth_decimals": 2},
        "ldl_hi": {"sdtype": "numerical", "range_min": 0, "range_max": 10, "range_is_nullable": False},
        "seen": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2019-06-01",
                 "range_max": "2021-12-31", "range_is_nullable": False},
        "enrolled": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2019-01-01",
                     "range_max": "2019-12-31", "range_is_nullable": False}})
    meta["synth_sequence"].update(static_columns=[*meta["synth_sequence"]["static_columns"], "enrolled"],
                                  first_visit_at=0)
    meta["synth_inequalities"] = [{"low": "ldl", "high": "ldl_hi"},
                                  {"if": {"column": "lab", "below": 4}, "then": {"column": "dose", "is": 1}}]
    df.loc[df["pid"].isin(patients[rng.random(len(patients)) < 0.15]), "arm"] = None  # the label's missing class
    columns = meta["tables"]["visits"]["columns"]
    columns["arm"] = {**columns["arm"], "range_is_nullable": True}
    return df, meta


@pytest.fixture(scope="module")
def wide():
    df, meta = _wide_trial()
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(df, meta)


@pytest.fixture(scope="module")
def visits():
    """Visits at dates (the other visit models' times are numbers), lab written at one decimal."""
    df = make_visits()
    df["day"] = (pd.Timestamp("2020-01-01") + pd.to_timedelta(df["day"], unit="D")).dt.strftime("%Y-%m-%d")
    meta = copy.deepcopy(SEQ_META)
    columns = meta["tables"]["visits"]["columns"]
    columns["day"] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2019-06-01",
                      "range_max": "2021-12-31"}
    columns["lab"]["synth_decimals"] = 1
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(df, meta)


@pytest.fixture(scope="module")
def rich_visits():
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(*_rich_visits())


@pytest.fixture(scope="module")
def slots():
    return Synthesizer(epsilon=1.0, label="arm", noise_seed=0, **FAST).fit(scheduled(), slots_meta())


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
    syn = pd.read_csv(tmp_path / "streamed.csv")
    ids = syn["pid"]
    assert ids.is_monotonic_increasing and ids.iloc[-1] == 9_001  # whole patients, in order, across slices
    lab = syn["lab"].dropna()
    assert syn["day"].str.match(r"20\d\d-\d\d-\d\d$").all() and (lab.round(1) == lab).all()


@pytest.mark.parametrize("n, seed, condition", [(9_001, 5, None), (4_097, 2, "arm=b"), (1, 0, None)])
def test_visits_of_every_kind_stream_the_reference_bytes(rich_visits, tmp_path, n, seed, condition):
    expected = reference_csv(rich_visits, tmp_path / "reference.csv", n, seed, condition)
    rich_visits.write_csv(tmp_path / "streamed.csv", n, seed=seed, condition=condition, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
    if n > 1:  # nulls, the decimals, dates, the pii and visit ids, the label, the inequality held
        syn = pd.read_csv(tmp_path / "streamed.csv", dtype={"name": str, "vid": str})
        assert syn["flag"].isna().any() and syn["dose"].isna().any() and syn["pid"].iloc[-1] == n
        assert (syn["ldl"] <= syn["ldl_hi"]).all() and (syn["ldl"].round(2) == syn["ldl"]).all()
        assert syn["seen"].str.match(r"\d{4}-\d\d-\d\d$").all() and syn["enrolled"].str.startswith("2019").all()
        assert (syn.groupby("pid")["day"].min() == 0).all() and (syn["day"] <= syn["stop"]).all()
        assert set(syn["arm"].dropna()) == ({"b"} if condition else {"a", "b"})
        assert syn["arm"].isna().any() != bool(condition)  # the missing class, unless one arm is asked for
        assert syn["vid"].iloc[-1].startswith(f"{n}-") and (syn.loc[syn["lab"] < 4, "dose"].dropna() == 1).all()


def test_visits_on_a_schedule_stream_the_reference_bytes(slots, tmp_path):
    expected = reference_csv(slots, tmp_path / "reference.csv", 9_001, 4)
    slots.write_csv(tmp_path / "streamed.csv", 9_001, seed=4, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
    assert set(pd.read_csv(tmp_path / "streamed.csv")["day"]) <= {0, 30, 60, 90}


def _rows(s: Synthesizer) -> ArrowRows:
    written, rule = s._rules(1)
    st = s._state()
    return ArrowRows(st["encoder"], st["domain"], written, *rule, read_implications(st["meta"]))


def test_models_with_implications_stream_in_slices_unless_a_rule_could_change_a_type(wide, rich_visits):
    assert _rows(wide).slices_keep_types and _rows(rich_visits).slices_keep_types  # streamed in slices above
    domain = wide._state()["domain"]
    assert types_hold([Implication("lab", "below", 0.5, "grade", 3)], domain)  # integers stay integers
    assert types_hold([Implication("lab", "above", 0.5, "dose", "x")], domain)  # text stays text
    assert not types_hold([Implication("lab", "at_most", 0.5, "grade", "x")], domain)  # text among integers
    assert not types_hold([Implication("lab", "at_least", 0.5, "tested", 2)], domain)  # a number among booleans


def test_a_rule_that_changes_a_type_streams_whole_first_chunks_and_the_reference_bytes(wide, tmp_path, monkeypatch):
    """No rule that metadata can state changes a type (its value is one of the column's
    range_values, which set the type): a made-up one does. The reference path fails on it where
    a later chunk has no row the rule sets (the first chunk's text type against integers), so
    the rows here are one chunk."""
    from synth.sample import face as sampling_face
    from tests.sample import test_streaming

    rules = []
    for module in (sampling_face, test_streaming):
        monkeypatch.setattr(module, "read_implications", lambda meta: rules)
    free = pd.read_csv(io.BytesIO(reference_csv(wide, tmp_path / "free.csv", CHUNK, 3)))
    # a rule that first holds after the first slice but within the first chunk: only the whole
    # first chunk tells that grade (integers) becomes text
    for name in free.columns.drop(["grade", "id"], errors="ignore"):
        if pd.api.types.is_float_dtype(free[name]):
            number = free[name].where(free["grade"].notna())
            first, rest = number.iloc[:4_096], number.iloc[4_096:CHUNK]
            if rest.min() < first.min():
                rules.append(Implication(name, "below", (rest.min() + first.min()) / 2, "grade", "x"))
                break
            if rest.max() > first.max():
                rules.append(Implication(name, "above", (rest.max() + first.max()) / 2, "grade", "x"))
                break
    assert rules
    expected = reference_csv(wide, tmp_path / "reference.csv", CHUNK, 3)  # one chunk: see the docstring
    wide.write_csv(tmp_path / "streamed.csv", CHUNK, seed=3, chunk_size=CHUNK)
    assert (tmp_path / "streamed.csv").read_bytes() == expected
    header, *rows = expected.decode().splitlines()
    at = header.split(",").index('"grade"')
    grades = [row.split(",")[at] for row in rows]
    assert '"x"' not in grades[:4_096] and '"x"' in grades and '"1"' in grades and "1" not in grades


def test_the_sliced_generator_gives_the_rows_of_whole_chunks(wide):
    st = wide._state()
    args = (st["generator"], st["encoder"], st["domain"], 6_000, 2)
    sliced = pd.concat(sample_chunks(*args, chunk_size=CHUNK), ignore_index=True)
    whole = pd.concat(sample_chunks(*args, chunk_size=CHUNK, slice_rows=None), ignore_index=True)
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
    from synth.sample import arrow_rows

    real = arrow_rows.ArrowRows._batch

    def failing(self, first, *rest):
        if first == 0:
            raise ValueError("first slice")
        return real(self, first, *rest)

    monkeypatch.setattr(arrow_rows.ArrowRows, "_batch", failing)
    with pytest.raises(ValueError, match="first slice"):
        wide.write_csv(tmp_path / "x.csv", 3 * CHUNK, seed=1, chunk_size=CHUNK)
    assert not (tmp_path / "x.csv").exists()


def test_a_visit_tables_pii_column_is_written_as_placeholders(rich_visits, tmp_path):
    """docs/metadata.md: pii columns are never modelled and written as placeholders, as in a table
    (``name_<patient id>``), not as a visit id's patient-visit labels."""
    rich_visits.write_csv(tmp_path / "visits.csv", 20, seed=1)
    syn = pd.read_csv(tmp_path / "visits.csv", dtype={"name": str, "vid": str})
    pid = syn["pid"].astype(str)
    assert (syn["vid"] == pid + "-" + (syn.groupby("pid").cumcount() + 1).astype(str)).all()  # a visit id
    assert (syn["name"] == "name_" + pid).all()


def test_a_visit_model_file_without_pii_columns_gets_them_from_its_metadata(rich_visits, tmp_path):
    """Visit model files written before the fix name no pii column in their domain: loading reads
    them off the stored (public) metadata, so they too write placeholders."""
    from synth.io.modelfile import read_model

    rich_visits.save(tmp_path / "m.synth")
    tensors, doc = read_model(tmp_path / "m.synth")
    doc["domain"]["pii_columns"] = []
    old = Synthesizer._from_document(tmp_path / "m.synth", tensors, doc, "cpu")
    assert old._fitted["domain"].pii_columns == ["name"]
