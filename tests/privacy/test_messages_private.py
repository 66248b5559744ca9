"""Warnings and errors hold public metadata only: never a count of the data nor a value read from it.

Messages reach notebooks that get shared. Each case below plants a distinctive value
(``SECRET``) or builds data whose counts (patients, rows, visits, offending rows, the row of the
first bad value) are distinctive numbers, drives one bad-input path, and checks that no planted
value and no count of the data appears in the warning or error text. Column names, option values
and the metadata's public numbers may appear.
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from tests.conftest import TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits

FAST = dict(epochs=2, g_hidden=32, d_hidden=32, noise_dim=8, pretrain_steps=100)
SECRET = "zzq-secret-917"
N = 137  # patients of the tabular cases: never in a message
BAD_ROW = 113  # where a bad value is planted (1-based as a row number, 0-based as an index)


def _numbers(text: str) -> set[int]:
    """Whole numbers in ``text`` ("1,337" is 1337), for checking that no count appears in it."""
    return {int(m.replace(",", "")) for m in re.findall(r"(?<![\d.])\d[\d,]*(?![\d.]*\d)", text)}


def _private(text: str, counts: set[int], values: tuple[str, ...] = (SECRET,)) -> None:
    assert not counts & _numbers(text), f"a count of the data in: {text}"
    for value in values:
        assert value not in text, f"a value of the data in: {text}"


def _messages(df: pd.DataFrame, meta: dict, **options) -> list[str]:
    """Fit that must stop on bad input: the error's text and every warning's, in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(SynthError) as err:
            Synthesizer(**{"epsilon": 1.0, **FAST, **options}).fit(df, meta)
    return [str(w.message) for w in caught] + [str(err.value)]


def _trial(n: int = N) -> pd.DataFrame:
    return make_trial(n).astype({"sex": object, "age": object, "smoker": object, "visit": object})


def _plant(df: pd.DataFrame, column: str, value, rows: int = 1) -> pd.DataFrame:
    df = df.copy()
    df.loc[BAD_ROW - 1:BAD_ROW - 2 + rows, column] = value
    return df


def seq_meta(**top) -> dict:
    return {**copy.deepcopy(TRIAL_META), **top}


TABULAR = {
    "category outside range_values": (lambda df: _plant(df, "sex", SECRET, rows=11), "column 'sex'"),
    "text in a numerical column": (lambda df: _plant(df, "age", SECRET, rows=11), "column 'age'"),
    "infinite number": (lambda df: _plant(df, "weight", -np.inf, rows=11), "column 'weight'"),
    "text in a boolean column": (lambda df: _plant(df, "smoker", SECRET, rows=11), "column 'smoker'"),
    "text in a datetime column": (lambda df: _plant(df, "visit", SECRET, rows=11), "column 'visit'"),
    "missing value where not nullable": (lambda df: _plant(df, "arm", None, rows=11), "column 'arm'"),
}


@pytest.mark.parametrize("case", sorted(TABULAR))
def test_a_bad_value_is_named_by_its_column_never_quoted(case):
    damage, column = TABULAR[case]
    *_, error = _messages(damage(_trial()), seq_meta())
    assert column in error
    _private(error, {N, BAD_ROW, BAD_ROW - 1, 11, N - 11})


def test_a_stated_number_of_patients_far_from_the_data_s_is_said_without_the_data_s():
    df = _trial()
    df.loc[5, "arm"] = SECRET  # a later error ends the fit before training
    *warned, error = _messages(df, seq_meta(synth_patients=5000))
    assert len(warned) == 1 and "synth_patients states 5,000 patients, which differs from the data's" in warned[0]
    _private(warned[0], {N})
    _private(error, {N, 6})


def test_an_exact_number_of_patients_is_not_quoted_in_the_delta_error():
    *_, error = _messages(_trial(), seq_meta(), epsilon=math.inf, delta=0.5)  # ε = ∞: N is read exactly
    assert "(--delta, delta=) must be below 1/N" in error
    _private(error, {N}, (f"{1 / N:.3g}", SECRET))


def test_a_label_with_one_value_read_exactly_is_not_quoted():
    meta = seq_meta()
    meta["tables"]["trial"]["columns"]["arm"] = {"sdtype": "categorical", "range_is_nullable": False}
    *_, error = _messages(_trial().assign(arm=SECRET), meta, epsilon=math.inf, label="arm")
    assert "--label" in error and "1 value of 'arm'" in error
    _private(error, {N})


def test_a_repeated_patient_id_names_the_column_not_the_ids():
    df = _trial()
    df["pid"] = df["pid"].astype(object)
    df.loc[[3, 40, 77], "pid"] = SECRET
    *_, error = _messages(df, seq_meta())
    assert "id column 'pid'" in error and "repeats" in error
    _private(error, {N, 3, 2, 4, 41, 78})


def test_an_inequality_broken_in_some_rows_does_not_say_how_many():
    meta = seq_meta(synth_inequalities=[{"low": "age", "high": "weight"}])
    df = _trial().assign(weight=30.0)  # every age above 30 breaks age <= weight
    broken = int((df["age"].astype(float) > 30).sum())
    *_, error = _messages(df, meta)
    assert "column 'age' exceeds 'weight'" in error
    _private(error, {N, broken})


def test_memory_errors_name_no_count_of_rows(monkeypatch):
    from synth.io.memory import estimated_bytes
    from synth.schema.columns import resolve_columns
    from synth.schema.metadata import Metadata

    schema = resolve_columns(Metadata.load(TRIAL_META))
    monkeypatch.setattr("synth.io.memory.available_memory", lambda: estimated_bytes(N, schema) - 1)
    *_, error = _messages(_trial(), seq_meta())
    assert "too large for this machine" in error
    _private(error, {N})


# ------------------------------------------------------------------ visit sequences
P = 53  # patients of the sequence cases


def _visits() -> pd.DataFrame:
    return make_visits(n=P).astype({"stage": object})


def _seq(**seq) -> dict:
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"].update(seq)
    return m


def _counts(df: pd.DataFrame) -> set[int]:
    return {P, len(df)}


def test_a_static_column_that_varies_does_not_say_in_how_many_patients():
    df = _visits()
    later = df.groupby("pid").cumcount() > 0
    varying = later & (df["pid"] < 100 + 17)
    df.loc[varying, "age"] += 1
    *_, error = _messages(df, _seq())
    assert "static column 'age' varies within some patients" in error
    _private(error, _counts(df) | {int(varying.sum()), df.loc[varying, "pid"].nunique()})


def test_a_later_visit_outside_range_values_is_not_quoted():
    df = _visits()
    late = df.groupby("pid").cumcount() > 0
    df.loc[late, "stage"] = SECRET
    *_, error = _messages(df, _seq())
    assert "column 'stage' holds a value outside its range_values at some visit" in error
    _private(error, _counts(df) | {int(late.sum())})


def test_missing_values_at_later_visits_are_not_counted():
    m = _seq()
    m["tables"]["visits"]["columns"]["lab"]["range_is_nullable"] = False
    df = _visits()
    missing = int(df["lab"].isna().sum())
    df.loc[df.groupby("pid").cumcount() == 0, "lab"] = 5.0  # first visits complete: a later one is caught
    *_, error = _messages(df, m)
    assert "column 'lab'" in error
    _private(error, _counts(df) | {missing, int(df["lab"].isna().sum())})


@pytest.mark.parametrize("column", ["pid", "day"])
def test_missing_keys_and_times_are_not_counted(column):
    df = _visits()
    df.loc[df.index[:7], column] = np.nan
    *_, error = _messages(df, _seq())
    assert f"'{column}' is missing in some rows" in error
    _private(error, _counts(df) | {7})


def test_first_visits_off_first_visit_at_and_visits_off_the_schedule_are_not_counted_or_quoted():
    df = _visits()
    df["day"] = df["day"] - df.groupby("pid")["day"].transform("min")
    moved = df["pid"] < 100 + 19
    df.loc[moved, "day"] += 3
    *_, error = _messages(df, _seq(first_visit_at=0))
    assert "some patients have their first visit at another 'day' than 0" in error
    _private(error, _counts(df) | {19})
    df = _visits()
    off = ~df["day"].isin([0, 100, 200, 300, 400])
    *_, error = _messages(df, _seq(schedule=[0, 100, 200, 300, 400]))
    assert "some visits of 'day' are not at a time in synth_sequence.schedule (0, 100, 200, 300, 400)" in error
    _private(error, _counts(df) | {int(off.sum())} | {int(d) for d in df.loc[off, "day"]})


def test_visits_after_the_follow_up_end_are_not_counted():
    df = _visits()
    df["stop"] = df.groupby("pid")["day"].transform("max")
    late = df["pid"] < 100 + 23
    df.loc[late, "stop"] -= 1
    m = _seq(static_columns=["arm", "age", "stop"], follow_up_end="stop")
    m["tables"]["visits"]["columns"]["stop"] = {"sdtype": "numerical", "computer_representation": "Int64",
                                                "range_min": 0, "range_max": 500, "range_is_nullable": False}
    *_, error = _messages(df, m)
    assert "some visits come after their patient's 'stop'" in error
    _private(error, _counts(df) | {23})


def test_too_few_patients_for_max_visits_does_not_say_how_many():
    m = _seq()
    del m["synth_sequence"]["max_visits"]
    df = make_visits(n=19)
    *_, error = _messages(df, m, noise_seed=0)  # the research noise seed: at 19 patients the release may succeed
    assert "too few patients to estimate max_visits under DP" in error
    _private(error, {19, len(df)})


# ------------------------------------------------------------------ the command line
def _cli(*args) -> tuple[int, str]:
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    return r.exit_code, r.stderr


def test_command_line_errors_hold_no_value_or_count(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(seq_meta()))
    for column, value in [("sex", SECRET), ("age", SECRET), ("smoker", SECRET), ("visit", SECRET)]:
        path = tmp_path / "bad.csv"
        _plant(_trial(), column, value, rows=11).to_csv(path, index=False)
        code, stderr = _cli("fit", path, "-m", meta, "-o", tmp_path / "m.synth", "--epochs", "1")
        assert code == 2 and len(stderr.strip().splitlines()) == 1 and f"column '{column}'" in stderr, stderr
        _private(stderr.replace(str(tmp_path), "<tmp>"), {N, BAD_ROW, 11})
    latin = tmp_path / "latin.csv"
    latin.write_bytes(_trial().assign(sex="f").to_csv(index=False).replace("f", f"{SECRET}\xe9", 1).encode("latin-1"))
    code, stderr = _cli("fit", latin, "-m", meta, "-o", tmp_path / "m.synth")
    assert code == 2 and "is not UTF-8 text" in stderr
    _private(stderr.replace(str(tmp_path), "<tmp>"), set(), (SECRET, "0xe9", "position"))


def test_evaluate_with_too_few_rows_does_not_say_how_many(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(seq_meta()))
    make_trial(7).to_csv(tmp_path / "real.csv", index=False)
    make_trial(40).to_csv(tmp_path / "syn.csv", index=False)
    code, stderr = _cli("evaluate", "--real", tmp_path / "real.csv", "--synthetic", tmp_path / "syn.csv",
                        "-m", meta, "-o", tmp_path / "r.html")
    assert code == 2 and "the real data has fewer than 10 rows" in stderr
    _private(stderr.replace(str(tmp_path), "<tmp>"), {7})


def test_an_internal_error_does_not_print_the_exception_s_text(tmp_path, monkeypatch):
    import synth.cli

    def broken(*args, **kwargs):
        raise ValueError(f"could not convert string to float: '{SECRET}'")

    monkeypatch.setattr(synth.cli.fit_command, "_fit", broken)  # the fit command's own module
    (tmp_path / "meta.json").write_text(json.dumps(seq_meta()))
    (tmp_path / "any.csv").write_text("arm\n")  # the CLI checks that the file is there before _fit
    code, stderr = _cli("fit", tmp_path / "any.csv", "-m", tmp_path / "meta.json", "-o", tmp_path / "m.synth")
    assert code == 1 and "internal error (ValueError)" in stderr
    _private(stderr, set())
