"""A fit over several processes (torch.distributed + Opacus): the same guarantee as one process.

The DP step over two ranks is checked against one process on the union of their batches
(noise added once, on rank 0); a two-process fit under torchrun against one process with the
same research noise seed (the same releases, ledger and ε); ``synth fit --nproc 2`` end to end,
and a rank killed mid-run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from synth import Synthesizer
from synth.distributed.group import Ranks
from synth.models.dp_step import dp_step, private_discriminator
from synth.models.networks import Discriminator
from synth.privacy.randomness import NoiseSource
from tests.conftest import TRIAL_META, make_trial

ROOT = Path(__file__).resolve().parents[2]
WIDTH, CLASSES, K = 6, 2, 10


def _step_inputs():
    g = torch.Generator().manual_seed(5)
    x, fake = torch.rand(K, WIDTH, generator=g), torch.rand(K, WIDTH, generator=g)
    y, y_fake = torch.randint(0, CLASSES, (K,), generator=g), torch.randint(0, CLASSES, (K,), generator=g)
    return x, y, fake, y_fake


def _one_step(world: int, rank: int, sigma: float, clip: float) -> torch.Tensor:
    """The discriminator's weights after one DP step over ``world`` ranks (this rank's share of
    the batch: rows rank, rank + world, …)."""
    torch.manual_seed(0)
    disc = Discriminator(WIDTH, CLASSES, 16, 0.0)
    if rank:  # another rank starts elsewhere: DPDDP must put rank 0's weights everywhere
        torch.nn.init.zeros_(disc.body[0].weight)
    noise = torch.Generator().manual_seed(123 + 1000 * rank)  # rank 1's noise would change the result
    module, opt = private_discriminator(disc, torch.optim.SGD(disc.parameters(), lr=1.0), sigma, clip, K * 0.5,
                                        noise, world)
    x, y, fake, y_fake = _step_inputs()
    mine = slice(rank, None, world)
    dp_step(module, opt, x[mine], y[mine], fake[mine], y_fake[mine], CLASSES)
    return torch.cat([p.detach().flatten() for p in disc.parameters()])


CASES = [(0.0, 1e9), (0.0, 0.05), (1.3, 0.05)]  # (σ, C): no clipping, binding clipping, noise


def _worker(rank: int, world: int, store: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        for i, (sigma, clip) in enumerate(CASES):
            np.save(f"{out}.{i}.{rank}.npy", _one_step(world, rank, sigma, clip).numpy())
    finally:
        dist.destroy_process_group()


def test_two_ranks_take_one_processs_step_on_the_union_of_their_batches(tmp_path):
    """Clipped sums added across ranks, noise once (rank 0's stream), averaged over the global
    N·q: equal to one process's step, with no clipping, binding clipping and noise."""
    out = str(tmp_path / "w")
    mp.spawn(_worker, args=(2, str(tmp_path / "store"), out), nprocs=2, join=True)
    for i, (sigma, clip) in enumerate(CASES):
        ranks = [np.load(f"{out}.{i}.{r}.npy") for r in range(2)]
        alone = _one_step(1, 0, sigma, clip).numpy()
        np.testing.assert_array_equal(ranks[0], ranks[1])  # the ranks stay in step
        np.testing.assert_allclose(ranks[0], alone, rtol=1e-5, atol=1e-6)


def test_shards_are_disjoint_and_cover_every_patient():
    shards = [Ranks(r, 3).shard(10) for r in range(3)]
    assert sorted(np.concatenate(shards).tolist()) == list(range(10))


def test_ranks_share_the_release_noise_but_not_the_poisson_stream():
    secret = 2**100 + 12345
    a, b = NoiseSource(shared=secret, rank=0), NoiseSource(shared=secret, rank=1)
    assert a.numpy.normal() == b.numpy.normal() and a.secret and b.secret
    assert not torch.equal(torch.rand(100, generator=a.torch), torch.rand(100, generator=b.torch))


def test_the_shared_secret_never_seeds_torch():
    """``shared`` travels in the clear: knowing it and the rank must not rebuild a rank's Poisson
    batches or rank 0's gradient noise. The same shared value and rank give the same releases'
    stream but new torch streams."""
    secret = 2**100 + 12345
    for rank in (0, 1):
        a, b = NoiseSource(shared=secret, rank=rank), NoiseSource(shared=secret, rank=rank)
        assert np.array_equal(a.numpy.normal(size=5), b.numpy.normal(size=5))
        assert not torch.equal(torch.rand(100, generator=a.torch), torch.rand(100, generator=b.torch))


def test_under_a_noise_seed_every_ranks_streams_repeat():
    for rank in (0, 1, 3):
        a, b = NoiseSource(7, shared=2**100, rank=rank), NoiseSource(7, shared=2**90, rank=rank)
        assert np.array_equal(a.numpy.normal(size=5), b.numpy.normal(size=5))
        assert torch.equal(torch.rand(100, generator=a.torch), torch.rand(100, generator=b.torch))
    ranks = [torch.rand(100, generator=NoiseSource(7, rank=r).torch) for r in (0, 1, 3)]
    assert not any(torch.equal(ranks[i], ranks[j]) for i, j in ((0, 1), (0, 2), (1, 2)))


def test_tables_counted_on_shards_and_noised_once_equal_one_processs_release(meta):
    """Two shards counted apart (two threads standing in for ranks, their counts added as
    all_reduce would) with the same secret stream: the same tables and pairs as one process."""
    import copy
    import threading

    from synth.release.pair_tables import TablePlan, release_tables
    from synth.release.shards import counting_shards
    from tests.conftest import encoded_trial

    _, enc, x, y, ledger, domain = encoded_trial(meta, n=400, heavy=True)
    barrier, slots, out = threading.Barrier(2), [None, None], [None, None]

    def rank(r: int) -> None:
        def add(counts):
            slots[r] = counts
            barrier.wait()
            summed = slots[0] + slots[1]
            barrier.wait()
            return summed

        mine = Ranks(r, 2).shard(len(x))
        with counting_shards(add):
            out[r] = release_tables(x[mine], y[mine], TablePlan(2, enc.cell_blocks, domain.label_proportions),
                                    copy.deepcopy(ledger), np.random.default_rng(9))
    threads = [threading.Thread(target=rank, args=(r,)) for r in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    alone, _ = release_tables(x, y, TablePlan(2, enc.cell_blocks, domain.label_proportions), copy.deepcopy(ledger),
                              np.random.default_rng(9))
    for tables, _ in out:
        assert [t.name for t in tables] == [t.name for t in alone]
        for a, b in zip(tables, alone):
            np.testing.assert_allclose(a.counts, b.counts, rtol=0, atol=1e-9)


def _trial_files(tmp_path: Path, n: int = 160) -> tuple[Path, Path]:
    data, meta = tmp_path / "trial.csv", tmp_path / "trial.json"
    make_trial(n).to_csv(data, index=False)
    meta.write_text(json.dumps(TRIAL_META))
    return data, meta


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def test_a_two_process_fit_under_torchrun_releases_and_spends_what_one_process_does(tmp_path):
    """The bundled ACTG175 (2,139 patients), a few steps: one process, then two under torchrun,
    with the same research noise seed."""
    data, meta = ROOT / "data" / "actg175.csv", ROOT / "data" / "actg175.json"
    script = str(ROOT / "tests" / "helpers" / "distributed_fit.py")
    one, two = tmp_path / "one.synth", tmp_path / "two.synth"
    load_script().main([str(data), str(meta), str(one), "cens", "77"])  # one process: this one
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", script,
                    data, meta, two, "cens", "77"], check=True, env=_env(), cwd=tmp_path, capture_output=True)
    a, b = Synthesizer.load(one, device="cpu"), Synthesizer.load(two, device="cpu")
    assert b.info()["train"]["processes"] == 2 and a.info()["train"]["processes"] == 1
    assert a.ledger.to_dict() == b.ledger.to_dict()  # mechanisms, σ, q, steps, ε
    assert a.domain.to_dict() == b.domain.to_dict()  # the same noisy releases: each drawn once
    assert len(b.sample(50, seed=1)) == 50
    digests = [(tmp_path / f"two.synth.rank{r}").read_text() for r in range(2)]
    assert digests[0] == digests[1]  # the ranks end with one generator (the chosen checkpoint included)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.synth", "one.synth.rank0", "two.synth",
                                                          "two.synth.rank0", "two.synth.rank1"]  # no temporary files


@pytest.mark.slow
def test_ranks_given_different_files_stop_before_the_tables(tmp_path):
    data, meta = _trial_files(tmp_path)
    other = tmp_path / "other.csv"
    make_trial(160, seed=3).to_csv(other, index=False)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          str(ROOT / "tests" / "helpers" / "distributed_fit.py"), data, meta, tmp_path / "m.synth", "arm"],
                         env={**_env(), "SYNTH_TEST_OTHER_DATA": str(other)}, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    assert "computed other domains than rank 0" in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "m.synth").exists()


def load_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("distributed_fit", ROOT / "tests" / "helpers" / "distributed_fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _synth(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synth", *map(str, args)], capture_output=True, text=True,
                          env=kw.pop("env", _env()), **kw)


def test_fit_nproc_passes_every_option_to_its_ranks(tmp_path, monkeypatch):
    """The launcher's argument list (the processes themselves: the slow test below)."""
    import synth.distributed.launch as launch
    from typer.testing import CliRunner

    from synth.cli import app

    data, meta = _trial_files(tmp_path)
    seen = []
    monkeypatch.setattr(launch, "launch", lambda nproc, args: seen.append((nproc, args)) or 0)
    result = CliRunner().invoke(app, ["fit", str(data), "-m", str(meta), "-o", "m.synth", "--label", "arm",
                                      "--epsilon", "2", "--epochs", "3", "--seed", "7", "--no-smooth-tables",
                                      "--nproc", "3"])
    assert result.exit_code == 0, result.output
    (nproc, args), = seen
    assert nproc == 3 and "--nproc" not in args and args[:2] == ["fit", str(data)]
    pairs = dict(zip(args[2::2], args[3::2]))
    assert pairs["--label"] == "arm" and pairs["--epsilon"] == "2" and pairs["--epochs"] == "3"
    assert pairs["--seed"] == "7" and "--no-smooth-tables" in args and "--refine-groups" not in args


def test_a_stray_rank_variable_does_not_silence_a_one_process_fit(tmp_path, monkeypatch):
    """RANK without torchrun's WORLD_SIZE (a cluster's environment, say): errors and output still show."""
    from typer.testing import CliRunner

    from synth.cli import app

    data, meta = _trial_files(tmp_path)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    result = CliRunner().invoke(app, ["fit", str(data), "-m", str(meta), "-o", str(tmp_path / "m.synth"),
                                      "--label", "nope"])
    assert result.exit_code == 2 and "error:" in result.stderr and "nope" in result.stderr


@pytest.mark.slow
def test_fit_nproc_2_writes_one_model_and_says_so_once(tmp_path):
    data, meta = _trial_files(tmp_path)
    done = _synth("fit", data, "-m", meta, "--label", "arm", "--epsilon", "inf", "--epochs", "1",
                  "-o", tmp_path / "m.synth", "--nproc", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = Synthesizer.load(tmp_path / "m.synth", device="cpu").info()
    assert info["train"]["processes"] == 2
    assert done.stdout.count("wrote ") == 1 and "error" not in done.stderr


def _one_line_before_any_rank(tmp_path: Path, data: Path, meta: Path, bad: list[str]) -> None:
    run = _synth("fit", data, "-m", meta, "-o", tmp_path / "x.synth", "--nproc", "2", *bad, cwd=tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    assert not (tmp_path / "x.synth").exists()


@pytest.mark.slow
@pytest.mark.parametrize("bad", [["--label", "nope"], ["--epsilon", "-1"], ["--nproc", "100000"], ["--device", "tpu"]])
def test_bad_options_under_nproc_stop_before_the_processes_start(tmp_path, bad):
    data, meta = _trial_files(tmp_path)
    _one_line_before_any_rank(tmp_path, data, meta, bad)


@pytest.mark.slow
def test_bad_data_under_nproc_is_one_line_from_rank_0(tmp_path):
    data, meta = _trial_files(tmp_path)
    df = make_trial(160)
    df["age"] = df["age"].astype(object)
    df.loc[5, "age"] = "forty"
    df.to_csv(data, index=False)
    run = _synth("fit", data, "-m", meta, "--label", "arm", "-o", tmp_path / "x.synth", "--nproc", "2",
                 cwd=tmp_path)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.returncode == 2 and len(lines) == 1 and "age" in lines[0], run.stderr
    assert not (tmp_path / "x.synth").exists()


def _rank_pid(marker: str, rank: int, timeout: float = 60.0) -> int:
    """The pid of the process whose environment holds ``marker`` and RANK=rank."""
    deadline = time.monotonic() + timeout
    want = {f"SYNTH_TEST_RUN={marker}".encode(), f"RANK={rank}".encode()}
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    env = set((entry / "environ").read_bytes().split(b"\0"))
                except OSError:
                    continue
                if want <= env:
                    return int(entry.name)
        time.sleep(0.1)
    raise AssertionError(f"no rank {rank} appeared")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_killed_rank_ends_the_run_with_one_error_and_no_model_file(tmp_path):
    data, meta = _trial_files(tmp_path)
    marker = uuid.uuid4().hex
    proc = subprocess.Popen([sys.executable, "-m", "synth", "fit", str(data), "-m", str(meta), "--label", "arm",
                             "--epochs", "200", "-o", str(tmp_path / "m.synth"), "--nproc", "2"],
                            env={**_env(), "SYNTH_TEST_RUN": marker}, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        victim = _rank_pid(marker, 1)
        time.sleep(3.0)
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, stderr
    assert "rank 1 of 2 was killed by signal 9" in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial.csv", "trial.json"]
