"""synth split: a holdout of whole patients, the same for the same seed, rows written as read."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import SynthError
from synth.cli import app
from synth.io.split import split_csv, split_patients
from tests.conftest import TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def visits_files(tmp_path):
    data, meta = tmp_path / "visits.csv", tmp_path / "visits.json"
    make_visits(60).to_csv(data, index=False)
    meta.write_text(json.dumps(SEQ_META))
    return data, meta


def test_split_by_patient_keeps_patients_whole_and_is_reproducible(tmp_path, visits_files):
    data, meta = visits_files
    r = _run("split", data, "--test", 0.25, "-m", meta, "-o", tmp_path / "train.csv", "--holdout",
             tmp_path / "test.csv", "--seed", 4)
    assert r.exit_code == 0, r.output
    assert "all rows of each 'pid' in one file" in r.stderr
    train, test = pd.read_csv(tmp_path / "train.csv"), pd.read_csv(tmp_path / "test.csv")
    assert not set(train["pid"]) & set(test["pid"])  # no patient in both
    assert test["pid"].nunique() == 15 and len(train) + len(test) == len(pd.read_csv(data))
    pd.testing.assert_frame_equal(pd.concat([train, test]).sort_index().sort_values(["pid", "day"]).reset_index(
        drop=True), pd.read_csv(data).sort_values(["pid", "day"]).reset_index(drop=True), check_like=True)
    again = split_csv(data, 0.25, tmp_path / "t2.csv", tmp_path / "h2.csv", meta, seed=4)
    assert again == "pid"
    assert (tmp_path / "h2.csv").read_bytes() == (tmp_path / "test.csv").read_bytes()
    assert (tmp_path / "t2.csv").read_bytes() == (tmp_path / "train.csv").read_bytes()
    split_csv(data, 0.25, tmp_path / "t3.csv", tmp_path / "h3.csv", meta, seed=5)
    assert (tmp_path / "h3.csv").read_bytes() != (tmp_path / "test.csv").read_bytes()


def test_split_by_primary_key_writes_cells_as_read(tmp_path):
    data, meta = tmp_path / "trial.csv", tmp_path / "trial.json"
    df = make_trial(50)
    df["weight"] = df["weight"].map(lambda w: "" if pd.isna(w) else f"{w:.6f}")  # text a re-typed write would change
    df.to_csv(data, index=False)
    meta.write_text(json.dumps(TRIAL_META))
    assert split_csv(data, 0.2, tmp_path / "a.csv", tmp_path / "b.csv", meta) == "pid"
    lines = (tmp_path / "a.csv").read_text().splitlines()[1:] + (tmp_path / "b.csv").read_text().splitlines()[1:]
    assert sorted(lines) == sorted(data.read_text().splitlines()[1:])
    assert len(pd.read_csv(tmp_path / "b.csv")) == 10


def test_without_metadata_each_row_is_a_patient(tmp_path, visits_files):
    data, _ = visits_files
    r = _run("split", data, "-o", tmp_path / "a.csv", "--holdout", tmp_path / "b.csv")
    assert r.exit_code == 0 and "warning: split by row: give -m metadata.json" in r.stderr
    assert split_patients(pd.Series(range(10)), 0.2, 0).sum() == 2
    assert split_patients(pd.Series([1, 1.0, "1", 2]), 0.5, 0).tolist() in ([True] * 3 + [False], [False] * 3 + [True])


@pytest.mark.parametrize("args, message", [
    (["--test", "0"], "test must be a share of the patients between 0 and 1"),
    (["--test", "1.5"], "test must be a share of the patients between 0 and 1"),
    (["--holdout", "SAME"], "must be three different files"),
])
def test_bad_split_options_are_one_line_errors(tmp_path, visits_files, args, message):
    data, meta = visits_files
    args = [str(tmp_path / "a.csv") if a == "SAME" else a for a in args]
    if "--holdout" not in args:
        args += ["--holdout", tmp_path / "b.csv"]
    r = _run("split", data, "-m", meta, "-o", tmp_path / "a.csv", *args)
    assert r.exit_code == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    with pytest.raises(SynthError, match="fewer than 2 patients"):
        split_patients(pd.Series([7, 7]), 0.5, 0)
