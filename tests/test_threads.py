"""The thread policy (synth.threads): one torch thread per process unless --threads/threads= or
OMP_NUM_THREADS says otherwise, set by Synthesizer and by the CLI's commands."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from synth.threads import limit_threads, threads_for, use_threads


@pytest.fixture(autouse=True)
def torch_threads(monkeypatch):
    """Each test starts from 3 threads (not the policy's count, so a test sees it set) and no
    OMP_NUM_THREADS; the process's count is restored after."""
    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(3)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("env, given, expect", [(None, None, 1), ("4", None, 4), ("4,2", None, 4), (" 2 ", None, 2),
                                                ("0", None, 1), ("lots", None, 1), ("", None, 1),
                                                (None, 2, 2), ("4", 2, 2)])
def test_policy_given_then_environment_then_one(monkeypatch, env, given, expect):
    if env is not None:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert threads_for(given) == expect
    assert use_threads(given) == expect and torch.get_num_threads() == expect


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_a_thread_count_that_is_not_a_whole_number_above_0_is_refused(bad):
    with pytest.raises(SynthError, match="--threads must be a whole number >= 1"):
        threads_for(bad)
    with pytest.raises(SynthError, match="--threads"):
        Synthesizer(threads=bad)


def test_a_synthesizer_sets_one_thread_unless_told(monkeypatch):
    assert Synthesizer().threads == 1 and torch.get_num_threads() == 1
    assert Synthesizer(threads=2).threads == 2 and torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert Synthesizer().threads == 4 and torch.get_num_threads() == 4


def test_fit_and_sample_set_the_synthesizers_threads_again(trial):
    from tests.conftest import FAST, TRIAL_META

    synth = Synthesizer(epsilon=1.0, label="arm", device="cpu", **{**FAST, "epochs": 1})
    torch.set_num_threads(3)
    synth.fit(trial, TRIAL_META)
    assert torch.get_num_threads() == 1
    torch.set_num_threads(3)
    synth.sample(5)
    assert torch.get_num_threads() == 1


def test_the_cli_sets_the_threads_of_fit_and_sample(tmp_path, trial_csv, meta_file, monkeypatch):
    run = CliRunner().invoke
    model = tmp_path / "m.synth"
    r = run(app, ["fit", str(trial_csv), "-m", str(meta_file), "-o", str(model), "--epochs", "1", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 1
    r = run(app, ["sample", str(model), "-n", "5", "-o", str(tmp_path / "a.csv"), "--threads", "2"])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    r = run(app, ["sample", str(model), "-n", "5", "-o", str(tmp_path / "b.csv"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert torch.get_num_threads() == 4
    r = run(app, ["sample", str(model), "-n", "5", "-o", str(tmp_path / "c.csv"), "--threads", "0"])
    assert r.exit_code == 2 and "--threads" in r.stderr and not (tmp_path / "c.csv").exists()


def test_limit_threads_limits_every_pool_and_restores_them():
    from threadpoolctl import threadpool_info

    before = {(p["filepath"], p["num_threads"]) for p in threadpool_info()}
    with limit_threads(None) as count:
        assert count == 1 and torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert torch.get_num_threads() == 3
    assert {(p["filepath"], p["num_threads"]) for p in threadpool_info()} == before
