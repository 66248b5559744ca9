"""Scale-out: `synth fit` in 1 process and in N processes (torch.distributed), side by side.

    python -m bench.dev.scale [--patients 1e4,1e5,1e6] [--nproc 1,2] [--repeats 1]

For each table size (generated rows of ACTG175's schema, from a model fitted on ACTG175),
each process count runs `synth fit --nproc N` (label cens, ε = 1, N stated as public
`synth_patients` so every run has the same sample rate) in its own process, the counts
alternated ``--repeats`` times. The cores are shared fairly: one process gets every core's
thread, N processes get cores / N threads each (what `--nproc` and torchrun set). Printed per
run: wall time, the DP-SGD throughput (patients drawn into Poisson batches, N·q per step times
the steps, per second of the whole fit), the ratio to one process, and whether the ledger is the
same as one process's (mechanisms, σ to the calibration's tolerance, q, steps, ε).

What it can show on a small machine: whether N processes cost or save time at each table size
once the cores are split between them. What it cannot: a speed-up past the cores there are
(2 here); every rank still repeats the releases on the whole table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def fit(table: Path, meta: Path, model: Path, nproc: int) -> float:
    threads = max(1, (os.cpu_count() or 1) // nproc)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "synth", "fit", str(table), "-m", str(meta),
                          "--label", "cens", "-o", str(model), "--nproc", str(nproc)],
                         capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"bench/dev/scale.py: a fit failed:\n{out.stderr[-2000:]}")
    return seconds


def ledger_of(model: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "synth", "info", str(model), "--json"], capture_output=True,
                         text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout)


def same_accounting(a: dict, b: dict) -> bool:
    """The same mechanisms with the same q and steps, σ within the calibration's tolerance."""
    ma, mb = a["ledger"]["mechanisms"], b["ledger"]["mechanisms"]
    return len(ma) == len(mb) and all(
        x["name"] == y["name"] and x["steps"] == y["steps"] and abs(x["sample_rate"] - y["sample_rate"]) < 1e-12
        and abs(x["noise_multiplier"] - y["noise_multiplier"]) <= 1e-3 * x["noise_multiplier"]
        for x, y in zip(ma, mb))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", default="1e4,1e5,1e6")
    parser.add_argument("--nproc", default="1,2")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(float(v)) for v in args.patients.split(",")]
    counts = [int(v) for v in args.nproc.split(",")]
    print(f"bench/dev/scale.py on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    print("| patients | processes | threads each | fit s | DP-SGD patients/s | time vs 1 process | same ledger |")
    print("|---|---|---|---|---|---|---|")
    from synth import Synthesizer

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        base = tmp / "actg175.synth"
        Synthesizer(epsilon=1.0, label="cens").fit(DATA / "actg175.csv", DATA / "actg175.json").save(base)
        for n in sizes:
            table, meta = tmp / f"actg175_{n}.csv", tmp / f"actg175_{n}.json"
            Synthesizer.load(base).write_csv(table, n, seed=1)
            doc = json.loads((DATA / "actg175.json").read_text())
            doc["synth_patients"] = n  # public N: the same q in every run
            meta.write_text(json.dumps(doc))
            times: dict[int, list[float]] = {k: [] for k in counts}
            infos: dict[int, dict] = {}
            for _ in range(args.repeats):
                for k in counts:
                    model = tmp / f"m{k}.synth"
                    times[k].append(fit(table, meta, model, k))
                    infos[k] = ledger_of(model)
            one = sum(times[counts[0]]) / len(times[counts[0]])
            for k in counts:
                mean = sum(times[k]) / len(times[k])
                t = infos[k]["train"]
                drawn = t["steps"] * t["sample_rate"] * infos[k]["ledger"]["n_patients"]
                print(f"| {n:,} | {k} | {max(1, (os.cpu_count() or 1) // k)} | {mean:.1f} | {drawn / mean:,.0f} | "
                      f"{mean / one:.2f} | {'yes' if same_accounting(infos[counts[0]], infos[k]) else 'no'} |",
                      flush=True)
            table.unlink()


if __name__ == "__main__":
    main()
