"""Crash safety: a killed or failing `fit`/`sample` leaves the previous complete output or none."""

import os

import numpy as np
import pytest

from synth import Synthesizer
from tests.conftest import FAST, TRIAL_META, make_trial
from bench.dev.crashing import csv_problem, kill_after, model_problem, sha256


@pytest.fixture(scope="module")
def fitted():
    return Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(), TRIAL_META)


@pytest.mark.parametrize("step", ["unlink", "statement", "csv"])
def test_a_failure_at_each_step_of_writing_a_csv_leaves_a_described_csv_or_none(fitted, tmp_path, monkeypatch, step):
    out = tmp_path / "syn.csv"
    fitted.write_csv(out, 50, seed=1)
    real_replace = os.replace

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    if step == "unlink":  # before the old CSV goes
        monkeypatch.setattr("synth.synthesizer.Path.unlink", crash)
    elif step == "statement":  # after the old CSV went, before the new statement is in place
        monkeypatch.setattr(os, "replace", lambda a, b: crash() if str(b).endswith(".json") else real_replace(a, b))
    else:  # the new statement is in place, the new CSV not yet renamed
        monkeypatch.setattr(os, "replace", lambda a, b: crash() if str(b).endswith(".csv") else real_replace(a, b))
    with pytest.raises(KeyboardInterrupt):
        fitted.write_csv(out, 80, seed=2)
    assert csv_problem(out) is None
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file went too


def test_the_statement_names_its_csv_by_hash(fitted, tmp_path):
    out = tmp_path / "syn.csv"
    fitted.write_csv(out, 30, seed=0)
    assert csv_problem(out) is None
    with open(out, "a") as f:
        f.write(out.read_text().splitlines()[1] + "\n")  # one more row
    assert csv_problem(out) == "a .privacy.json that describes another CSV"


def test_a_stale_temporary_file_of_a_killed_writer_is_swept(fitted, tmp_path):
    stale = tmp_path / ".syn.csv.999999999.abcdefgh.tmp"  # a pid that cannot be running
    stale.write_text("partial")
    mine = tmp_path / f".syn.csv.{os.getpid()}.abcdefgh.tmp"  # a live writer's: kept
    mine.write_text("partial")
    fitted.write_csv(tmp_path / "syn.csv", 10)
    assert not stale.exists() and mine.exists()


def test_kill_9_during_fit_and_sample(fitted, tmp_path, trial_csv, meta_file):
    """One kill at a random moment of each (bench/dev/fuzz.py runs many): never a partial output."""
    model, out = tmp_path / "m.synth", tmp_path / "syn.csv"
    fitted.save(model)  # the previous outputs
    fitted.write_csv(out, 100, model_path=model)
    rng = np.random.default_rng()
    before = sha256(model)
    kill_after(["fit", trial_csv, "-m", meta_file, "--label", "arm", "--epochs", "2", "-o", model],
               float(rng.uniform(3, 6)), tmp_path)
    assert model_problem(model, before) is None
    kill_after(["sample", model, "-n", "100000", "-o", out], float(rng.uniform(3, 5)), tmp_path)
    assert csv_problem(out) is None
