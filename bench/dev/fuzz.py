"""Reliability: thousands of hostile inputs, hostile model files, kill -9 at random moments, large CSVs.

    python -m bench.dev.fuzz [--cases 10000] [--evaluate 300] [--workers 2] [--model-files 2000] [--kills 40]
                             [--large 1e6,1gb]

1. ``--cases``: hypothesis cases from bench/dev/fuzzing.py (a trial table, damaged, with the options a
   user might type), run by bench/dev/fuzz_runs.py through `synth fit` and `synth sample`, spread
   over ``--workers`` processes with different seeds. Prints the count of each outcome, the most
   common one-line errors, and every failure (a traceback, another exit code, output left
   behind, a CSV failing its checks).
   ``--evaluate``: the same for `synth evaluate` with a real table and a damaged synthetic CSV.
2. ``--model-files``: hostile model files from bench/dev/hostile_models.py (truncations, bit flips,
   edited headers, forgeries, foreign files with payloads), the random kinds repeated until
   about that many: outcomes, the slowest load, the peak memory, whether a payload ran.
3. ``--kills``: `synth fit` and `synth sample` (alternating) killed with SIGKILL at a uniform
   random moment of a run, over an earlier complete output: how many left a problem.
4. ``--large``: `synth fit` on generated CSVs of ACTG175's schema (a row count, or a size such as
   ``1gb``): seconds, peak memory, and how it ended.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"


def _fuzz_batch(n: int, seed: int, evaluate: bool = False) -> list[tuple[str, str, str, list]]:
    import warnings

    warnings.simplefilter("ignore")
    import torch
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as fix_seed

    from bench.dev.fuzz_runs import run_case, run_evaluate_case
    from bench.dev.fuzzing import cases, evaluate_cases

    torch.set_num_threads(1)
    out = []

    @fix_seed(seed)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(evaluate_cases() if evaluate else cases())
    def one(case):
        with tempfile.TemporaryDirectory() as folder:
            if evaluate:
                o = run_evaluate_case(case, Path(folder))
                out.append((o.kind, o.stage, o.detail, [case.what, case.args]))
            else:
                o = run_case(case, Path(folder))
                out.append((o.kind, o.stage, o.detail, [case.what, case.fit_args, case.sample_args]))

    one()
    return out


def fuzz_table(cases: int, workers: int, evaluate: bool = False) -> None:
    started = time.perf_counter()
    share = [cases // workers + (i < cases % workers) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        batches = pool.map(_fuzz_batch, share, [100 * evaluate + i for i in range(workers)], [evaluate] * workers)
        results = [r for batch in batches for r in batch]
    minutes = (time.perf_counter() - started) / 60
    counts = collections.Counter(k if k == "worked" else f"{k} at {s}" for k, s, _, _ in results)
    what = "`synth evaluate` on foreign synthetic CSVs" if evaluate else "Hostile CSVs, metadata and options"
    print(f"## {what}: {len(results):,} cases in {minutes:.0f} min\n")
    print("| outcome | cases |\n|---|---|")
    stages = ("evaluate",) if evaluate else ("fit", "sample")
    for key in ["worked"] + [f"{k} at {s}" for k in ("rejected", "failed") for s in stages]:
        print(f"| {key} | {counts.get(key, 0):,} |")
    errors = collections.Counter(re.sub(r"'[^']*'", "'…'", d)[:100] for k, _, d, _ in results if k == "rejected")
    print(f"\n{len(errors)} distinct one-line errors (values elided); the 12 most common:\n")
    for text, n in errors.most_common(12):
        print(f"- {n:,}: `{text}`")
    failures = [(s, d, c) for k, s, d, c in results if k == "failed"]
    print(f"\nFailures: {len(failures)}")
    for stage, detail, case in failures[:20]:
        print(f"- at {stage}: {detail[:300]} — {case}")
    print()


def model_file_table(count: int, folder: Path) -> None:
    import numpy as np

    from bench.dev.hostile_models import bit_flips, foreign_files, forgeries, header_edits, truncations, try_load
    from bench.dev.trial import FAST, TRIAL_META, make_trial
    from synth import Synthesizer

    model = folder / "m.synth"
    Synthesizer(epsilon=1.0, label="arm", **FAST).fit(make_trial(), TRIAL_META).save(model)
    raw, rng, marker = model.read_bytes(), np.random.default_rng(), folder / "payload-ran"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes, slowest, kinds = collections.Counter(), 0.0, collections.Counter()
    fixed = list(header_edits(raw)) + list(forgeries(model)) + list(foreign_files(marker))
    variants = fixed
    while len(variants) < count:
        variants += list(truncations(raw, rng, 24)) + list(bit_flips(raw, rng, 48))
    for name, data in variants:
        bad = folder / "bad.synth"
        bad.write_bytes(data)
        kind, message, seconds = try_load(bad)
        outcomes[kind] += 1
        kinds[name.split(" at ")[0].split(":")[0]] += 1
        slowest = max(slowest, seconds)
        if kind != "rejected":
            print(f"- {kind}: {name}: {message[:200]}")
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    print(f"## Hostile model files: {len(variants):,} files\n")
    print("| kind | files |\n|---|---|")
    for k, n in sorted(kinds.items()):
        print(f"| {k} | {n:,} |")
    print(f"\nOutcomes: {dict(outcomes)}; slowest load {slowest:.2f} s; peak memory grew {grew:.0f} MiB; "
          f"a payload ran: {marker.exists()}\n")


def kill_table(kills: int, folder: Path) -> None:
    import numpy as np

    from synth import Synthesizer
    from bench.dev.crashing import csv_problem, kill_after, model_problem, sha256

    data, meta = DATA / "actg175.csv", DATA / "actg175.json"
    model, out = folder / "k.synth", folder / "k.csv"
    fit = ["fit", data, "-m", meta, "--label", "cens", "--epochs", "1", "-o", model]
    started = time.perf_counter()
    kill_after(fit, 600, folder)
    fit_s = time.perf_counter() - started
    sample = ["sample", model, "-n", "300000", "-o", out]
    started = time.perf_counter()
    kill_after(sample, 600, folder)
    sample_s = time.perf_counter() - started
    Synthesizer.load(model)
    rng = np.random.default_rng()
    rows, problems = collections.Counter(), []
    for i in range(kills):
        is_fit = i % 2 == 0
        before = sha256(model)
        whole = fit_s if is_fit else sample_s  # half the kills in the last fifth: where the files are written
        delay = float(rng.uniform(0, whole) if i % 4 < 2 else rng.uniform(0.8 * whole, 1.05 * whole))
        killed = kill_after(fit if is_fit else sample, delay, folder)
        problem = model_problem(model, before) if is_fit else csv_problem(out)
        key = ("fit" if is_fit else "sample", "killed" if killed else "finished first")
        rows[key] += 1
        if problem:
            problems.append((key, round(delay, 2), problem))
    left = len(list(folder.glob(".*.tmp")))
    print(f"## kill -9 at random moments (a whole fit took {fit_s:.0f} s, a 300k-row sample {sample_s:.0f} s; "
          "half the kills uniform over a run, half in its last fifth)\n")
    print("| command | runs | problems |\n|---|---|---|")
    for (cmd, how), n in sorted(rows.items()):
        print(f"| {cmd} ({how}) | {n} | {sum(1 for k, _, _ in problems if k == (cmd, how))} |")
    print(f"\nTemporary files left by killed runs at the end (swept by the next write to the same name): {left}")
    for p in problems:
        print(f"- {p}")
    print()


LARGE = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from synth import Synthesizer, SynthError
started = time.perf_counter()
try:
    Synthesizer(epsilon=1.0, label="cens", epochs=1).fit(sys.argv[1], sys.argv[2])
    ended = "fitted"
except SynthError as exc:
    ended = f"stopped: {exc}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - started, "peak_mib": peak, "ended": ended}))
"""


def large_table(sizes: list[str], folder: Path) -> None:
    from synth import Synthesizer

    model = folder / "actg.synth"
    Synthesizer(epsilon=1.0, label="cens", epochs=1).fit(DATA / "actg175.csv", DATA / "actg175.json").save(model)
    gen = Synthesizer.load(model)
    print("## Large inputs: `fit` on generated CSVs of ACTG175's schema (one epoch)\n")
    print("| CSV | rows | MB | fit s | peak MiB | ended |\n|---|---|---|---|---|---|")
    for size in sizes:
        table = folder / "large.csv"
        if size.lower().endswith("gb"):
            want = float(size[:-2]) * 1e9
            gen.write_csv(table, 1_000_000, seed=1)
            rows = int(1_000_000 * want / table.stat().st_size)
        else:
            rows = int(float(size))
        gen.write_csv(table, rows, seed=1)
        proc = subprocess.run([sys.executable, "-c", LARGE, str(table), str(DATA / "actg175.json")], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode == 0:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            r = {"seconds": float("nan"), "peak_mib": float("nan"), "ended": f"exit {proc.returncode}: "
                 f"{proc.stderr.strip().splitlines()[-1][:200] if proc.stderr.strip() else 'killed'}"}
        print(f"| {size} | {rows:,} | {table.stat().st_size / 1e6:,.0f} | {r['seconds']:.0f} | "
              f"{r['peak_mib']:,.0f} | {r['ended']} |")
        table.unlink()
        Path(f"{table}.privacy.json").unlink(missing_ok=True)
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--evaluate", type=int, default=300, help="cases for `synth evaluate`")
    parser.add_argument("--model-files", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--large", default="1e6,1gb", help="comma-separated row counts or sizes ('' to skip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.cases:
            fuzz_table(args.cases, args.workers)
        if args.evaluate:
            fuzz_table(args.evaluate, args.workers, evaluate=True)
        if args.model_files:
            model_file_table(args.model_files, folder)
        if args.kills:
            kill_table(args.kills, folder)
        if args.large:
            large_table(args.large.split(","), folder)


if __name__ == "__main__":
    main()
