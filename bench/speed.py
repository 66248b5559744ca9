"""Speed: fit time beside MST, the DP step's cost, sampling rows/s and memory, fit time as N grows,
the command line's start, and a fit beside busy processes.

    python -m bench.speed [--repeats 2] [--rows 1e5,1e6,1e7] [--visit-patients 1e4,1e5] [--patients 1e4,1e5,1e6]
                          [--suite]
    python -m bench.speed --parts start,busy [--busy-epochs 2]   # some parts only
    python -m bench.speed --parts visits [--visit-patients 1e4,1e5] [--visit-epochs 3]
    .venv-peers/bin/python -m bench.speed ...   # with SmartNoise Synth installed (bench/peers.py): MST too

One run prints one table per part, every figure measured in this run on this machine, side by
side: read the ratios, not the absolute times (the machines are shared and noisy).

1. Fit on ACTG175 (all 2,139 patients, label cens, ε = 1, the δ synth defaults to): synth's fit
   and, when smartnoise-synth is importable, MST's fit and sample on the same table with the
   same public metadata (bench/peers.py's way), alternated ``--repeats`` times; beside it, the
   fit's CPU seconds with the marginal loss's classes padded together (shipped) and apart.
2. One discriminator step on ACTG175's nets and expected batch: the shipped DP step (Opacus'
   ghost clipping over patient/generated pairs, noise), Opacus' materialised per-sample
   gradients over two passes (the reference it replaced), and a non-private step of the same
   loss.
3. ``synth sample`` to CSV from an ACTG175 model: rows/s and the process's peak memory for each
   of ``--rows`` (each in its own process), beside pyarrow's own ``write_csv`` of the same rows
   (read back from that CSV, in another process; goal: synth at ≥ 0.3× pyarrow's rate); the
   same from a pbcseq model for ``--visit-patients`` patients (all their visits).
4. ``synth fit`` on generated tables of ACTG175's schema (rows sampled from the model) with
   ``--patients`` rows each: time and peak memory (each in its own process).
5. ``synth --help`` and ``synth fit`` on a missing CSV (a one-line error): seconds from start
   to exit, beside a bare ``python -c pass`` (goal: under 0.5 s each; bench/contention.py).
6. An ACTG175 fit (``--busy-epochs`` epochs) alone and beside 3 busy processes (plain Python
   loops, killed after it): wall and CPU seconds with synth's default threads and with torch's
   own default (one per core, set explicitly), alternated ``--repeats`` times; a fit past
   ``--busy-limit`` seconds is stopped (goal: beside the busy processes, at most twice the time
   alone; bench/contention.py).
7. ``synth sample`` of visit sequences from a pbcseq model for ``--visit-patients`` patients:
   the shipped sampler, the same with the output layer and draws over every visit slot (before
   synth/sample/reached.py), the same with each slice decoded through pandas (the path it replaced)
   and pyarrow's write of the same rows, alternated ``--repeats`` times (bench/visit_speed.py).
8. With ``--suite``: the default test suite's wall time (``python -m pytest -q``).
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

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

from bench.contention import busy_table, start_table  # parts 5 and 6
from bench.visit_speed import visits_table  # part 7


def child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh Python process; it prints one JSON line. Adds the peak memory (MiB)."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if out.returncode != 0:
        raise SystemExit(f"bench/speed.py: a measurement failed:\n{out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result


PEAK = "import resource; peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024"

FIT = f"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
from synth import Synthesizer
started, cpu = time.perf_counter(), time.process_time()
model = Synthesizer(epsilon=1.0, label="cens").fit(sys.argv[1], sys.argv[2])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
if len(sys.argv) > 3:
    model.save(sys.argv[3])
{PEAK}
print(json.dumps({{"seconds": seconds, "cpu": cpu, "peak_mib": peak,
                  "steps": model.ledger.to_dict()["mechanisms"][-1]["steps"]}}))
"""

# The same fit with the marginal loss's classes computed apart (no padding: the layout before issue 47)
FIT_APART = FIT.replace("from synth import Synthesizer",
                        "import synth.models.padding_classes as pc; pc.PAIR_PADDING = 0.0\nfrom synth import Synthesizer")

MST = f"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from bench.peers import fit_sample_peer
from synth import Metadata
from synth.privacy.domain import default_delta
df, meta = pd.read_csv(sys.argv[1]), Metadata.load(sys.argv[2])
started = time.perf_counter()
fit_sample_peer("mst", df, meta, 1.0, default_delta(len(df)), 16, 0)
seconds = time.perf_counter() - started
{PEAK}
print(json.dumps({{"seconds": seconds, "peak_mib": peak}}))
"""

SAMPLE = f"""
import json, sys, time
from synth import Synthesizer
model = Synthesizer.load(sys.argv[1])
started, cpu = time.perf_counter(), time.process_time()
model.write_csv(sys.argv[2], int(sys.argv[3]))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
{PEAK}
print(json.dumps({{"seconds": seconds, "cpu": cpu, "peak_mib": peak}}))
"""

PYARROW = f"""
import json, sys, time
import pyarrow.csv as pacsv
table = pacsv.read_csv(sys.argv[1])
started, cpu = time.perf_counter(), time.process_time()
pacsv.write_csv(table, sys.argv[2], write_options=pacsv.WriteOptions(quoting_style="needed"))
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({{"seconds": seconds, "cpu": cpu, "rows": table.num_rows}}))
"""


def has_mst() -> bool:
    try:
        import snsynth  # noqa: F401
    except ImportError:
        return False
    return True


def fit_table(repeats: int) -> None:
    data, meta = DATA / "actg175.csv", DATA / "actg175.json"
    runs: dict[str, list[float]] = {"synth": [], "mst": []}
    cpu: dict[str, list[float]] = {"padded": [], "apart": []}
    mst = has_mst()
    for _ in range(repeats):
        fit = child(FIT, str(data), str(meta))
        runs["synth"].append(fit["seconds"])
        cpu["padded"].append(fit["cpu"])
        cpu["apart"].append(child(FIT_APART, str(data), str(meta))["cpu"])
        if mst:
            runs["mst"].append(child(MST, str(data), str(meta))["seconds"])
    print(f"## Fit: ACTG175 (2,139 patients), ε = 1, {repeats} alternated runs each\n")
    print("| method | fit s (mean) | runs | synth / MST |\n|---|---|---|---|")
    mean = {k: sum(v) / len(v) for k, v in runs.items() if v}
    ratio = f"{mean['synth'] / mean['mst']:.2f}" if mst else "MST not installed"
    print(f"| synth | {mean['synth']:.1f} | {', '.join(f'{s:.1f}' for s in runs['synth'])} | {ratio} |")
    if mst:
        print(f"| MST (fit + sample) | {mean['mst']:.1f} | {', '.join(f'{s:.1f}' for s in runs['mst'])} | |")
    padded, apart = (sum(v) / len(v) for v in (cpu["padded"], cpu["apart"]))
    print("\n| synth's marginal loss | fit CPU-s (mean) | runs | padded / apart |\n|---|---|---|---|")
    print(f"| classes padded together (shipped) | {padded:.1f} | {', '.join(f'{s:.1f}' for s in cpu['padded'])} "
          f"| {padded / apart:.2f} |")
    print(f"| classes apart (before) | {apart:.1f} | {', '.join(f'{s:.1f}' for s in cpu['apart'])} | |")
    print()


def step_table(steps: int = 200) -> None:
    import torch
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    from synth.models import Discriminator
    from synth.models.dp_step import dp_step, private_discriminator, row_losses

    torch.manual_seed(0)
    width, classes, batch = 138, 2, 214  # ACTG175's encoded width, its label, its expected batch
    x, fake = torch.randn(batch, width), torch.randn(batch, width)
    y, y_fake = torch.randint(0, classes, (batch,)), torch.randint(0, classes, (batch,))

    def timed(step) -> float:
        for _ in range(10):
            step()
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return steps / (time.perf_counter() - started)

    disc = Discriminator(width, classes, 128)
    module, opt = private_discriminator(disc, torch.optim.Adam(disc.parameters(), lr=5e-4), 1.0, 1.0, batch,
                                        torch.Generator())
    ghost = timed(lambda: dp_step(module, opt, x, y, fake, y_fake, classes))
    slow = GradSampleModule(Discriminator(width, classes, 128))
    slow_opt = DPOptimizer(torch.optim.Adam(slow.parameters(), lr=5e-4), noise_multiplier=1.0, max_grad_norm=1.0,
                           expected_batch_size=batch)

    def materialised():
        slow_opt.zero_grad()
        row_losses(slow, x, y, fake, y_fake, classes).mean().backward()
        slow_opt.step()
    old = timed(materialised)
    plain = Discriminator(width, classes, 128)
    plain_opt = torch.optim.Adam(plain.parameters(), lr=5e-4)

    def non_private():
        plain_opt.zero_grad()
        row_losses(plain, x, y, fake, y_fake, classes).mean().backward()
        plain_opt.step()
    free = timed(non_private)
    print(f"## Discriminator step: ACTG175's nets, batch {batch} patients + {batch} generated rows\n")
    print("| step | steps/s | vs non-private |\n|---|---|---|")
    for name, rate in [("non-private (same loss, no clipping, no noise)", free),
                       ("DP, ghost clipping (shipped)", ghost),
                       ("DP, materialised per-sample gradients (before)", old)]:
        print(f"| {name} | {rate:.0f} | {rate / free:.2f} |")
    print()


def sample_table(model: Path, rows: list[int], tmp: Path, title: str) -> None:
    print(f"## Sampling to CSV: {title}\n")
    print("| patients | CSV rows | synth s (CPU-s) | pyarrow s (CPU-s) | synth rows/s | pyarrow rows/s "
          "| synth / pyarrow | peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for n in rows:
        r = child(SAMPLE, str(model), str(tmp / "rows.csv"), str(n))
        w = child(PYARROW, str(tmp / "rows.csv"), str(tmp / "again.csv"))
        rate, own = w["rows"] / r["seconds"], w["rows"] / w["seconds"]
        print(f"| {n:,} | {w['rows']:,} | {r['seconds']:.2f} ({r['cpu']:.2f}) | {w['seconds']:.2f} ({w['cpu']:.2f}) | "
              f"{rate:,.0f} | {own:,.0f} | {rate / own:.2f} | {r['peak_mib']:.0f} |")
        (tmp / "rows.csv").unlink()
        (tmp / "again.csv").unlink()
    print()


def scale_table(model: Path, patients: list[int], tmp: Path) -> None:
    print("## Fit time as N grows: generated tables of ACTG175's schema, ε = 1\n")
    print("| patients | fit s | DP-SGD steps | peak MiB |\n|---|---|---|---|")
    from synth import Synthesizer

    for n in patients:
        table = tmp / f"actg175_{n}.csv"
        Synthesizer.load(model).write_csv(table, n, seed=1)
        r = child(FIT, str(table), str(DATA / "actg175.json"))
        print(f"| {n:,} | {r['seconds']:.1f} | {r['steps']} | {r['peak_mib']:.0f} |")
        table.unlink()
    print()


def suite_table() -> None:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                         capture_output=True, text=True)
    seconds = time.perf_counter() - started
    print("## Default test suite\n\n| command | s | result |\n|---|---|---|")
    print(f"| python -m pytest -q | {seconds:.0f} | {out.stdout.strip().splitlines()[-1]} |\n")


def numbers(text: str) -> list[int]:
    return [int(float(v)) for v in text.split(",") if v]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rows", default="1e5,1e6,1e7")
    parser.add_argument("--patients", default="1e4,1e5,1e6")
    parser.add_argument("--visit-patients", default="1e4,1e5", help="patients sampled from the pbcseq model")
    parser.add_argument("--visit-epochs", type=int, default=None,
                        help="epochs of the pbcseq fit of --parts visits (default: the fit's own)")
    parser.add_argument("--suite", action="store_true")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {','.join(PARTS)}")
    parser.add_argument("--busy-epochs", type=int, default=2, help="epochs of the fits beside busy processes")
    parser.add_argument("--busy-limit", type=float, default=600.0, help="seconds before such a fit is stopped")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"--parts: unknown {sorted(parts - set(PARTS))}; choose from {','.join(PARTS)}")
    print(f"bench/speed.py on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    if "fit" in parts:
        fit_table(args.repeats)
    if "step" in parts:
        step_table()
    if parts & {"sample", "scale"}:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            model = tmp / "actg175.synth"
            child(FIT, str(DATA / "actg175.csv"), str(DATA / "actg175.json"), str(model))
            if "sample" in parts:
                sample_table(model, numbers(args.rows), tmp, "ACTG175 model, 27 columns")
                visits = tmp / "pbcseq.synth"
                child(FIT.replace('label="cens"', 'label="trt"'), str(DATA / "pbcseq.csv"), str(DATA / "pbcseq.json"),
                      str(visits))
                sample_table(visits, numbers(args.visit_patients), tmp, "pbcseq model, visit sequences, 19 columns")
            if "scale" in parts:
                scale_table(model, numbers(args.patients), tmp)
    if "visits" in parts:
        with tempfile.TemporaryDirectory() as folder:
            visits_table(child, SAMPLE, PYARROW, FIT, DATA, numbers(args.visit_patients), args.repeats,
                         args.visit_epochs, Path(folder))
    if "start" in parts:
        start_table()
    if "busy" in parts:
        busy_table(args.repeats, args.busy_epochs, args.busy_limit)
    if args.suite:
        suite_table()


PARTS = ["fit", "step", "sample", "scale", "visits", "start", "busy"]


if __name__ == "__main__":
    main()
