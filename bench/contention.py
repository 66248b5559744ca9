"""Parts 5 and 6 of bench/speed.py: the command line's start, and a fit beside busy processes.

5. ``synth --help`` and ``synth fit`` on a missing CSV: wall and CPU seconds from start to exit,
   beside a bare ``python -c pass`` (goal: under 0.5 s wall each).
6. An ACTG175 fit alone and beside 3 busy processes (plain Python loops, each ending by itself
   after the fit's time limit and killed once the fit is done): wall and CPU seconds with
   synth's default threads (the children run without ``OMP_NUM_THREADS``: one thread) and with
   torch's own default (one per core, set explicitly). Goal: beside them, at most twice the
   time alone. On a machine others share, read the CPU ratios: the wall times follow their load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"

__all__ = ["start_table", "busy_table"]


def child(code: str, *args: str, env: dict, timeout: float) -> dict:
    """Run ``code`` in a fresh Python process under ``env``; the JSON of its last line."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                         env={**env, "PYTHONWARNINGS": "ignore"}, timeout=timeout)
    if out.returncode != 0:
        raise SystemExit(f"bench/speed.py: a measurement failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # of the children waited for
    return r.ru_utime + r.ru_stime


def start_table(runs: int = 5) -> None:
    """Seconds from start to exit (median of ``runs``) of the command line before it does any work:
    wall, and CPU (user + system: what a loaded machine does not inflate)."""
    def seconds(args: list[str], code: int) -> tuple[float, float]:
        walls, cpus = [], []
        for _ in range(runs):
            started, cpu = time.perf_counter(), _children_cpu()
            done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
            walls.append(time.perf_counter() - started)
            cpus.append(_children_cpu() - cpu)
            if done.returncode != code:
                raise SystemExit(f"bench/speed.py: {args} exited {done.returncode}, not {code}:\n{done.stderr[-2000:]}")
        return median(walls), median(cpus)

    with tempfile.TemporaryDirectory() as folder:
        missing = ["-m", "synth", "fit", str(Path(folder) / "nope.csv"), "-m", str(DATA / "actg175.json"),
                   "-o", str(Path(folder) / "m.synth")]
        rows = [("python -c pass (the interpreter alone)", seconds(["-c", "pass"], 0)),
                ("synth --help", seconds(["-m", "synth", "--help"], 0)),
                ("synth fit nope.csv ... (error: CSV file not found)", seconds(missing, 2))]
    print(f"## The command line's start: seconds to exit, median of {runs} (load average {os.getloadavg()[0]:.1f})\n")
    print("| command | wall s | CPU s | goal |\n|---|---|---|---|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {'' if name.startswith('python') else 'wall < 0.5'} |")
    print()


BUSY_FIT = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import torch
from synth import Synthesizer
threads = None if sys.argv[3] == "default" else int(sys.argv[3])
model = Synthesizer(epsilon=1.0, label="cens", epochs=int(sys.argv[4]), threads=threads)
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return r.ru_utime + r.ru_stime
started, cpu0 = time.perf_counter(), cpu()
model.fit(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": cpu() - cpu0, "threads": torch.get_num_threads()}))
"""

BUSY_LOOP = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_processes(n: int, limit: float):
    """``n`` processes each spinning a core in a plain Python loop: killed on leaving, and each
    ends by itself after ``limit`` seconds whatever happens to this one."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(limit)]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def busy_table(repeats: int, epochs: int, limit: float, neighbours: int = 3) -> None:
    """An ACTG175 fit alone and beside ``neighbours`` busy processes, one thread vs torch's default.
    A fit still running after ``limit`` seconds is stopped: its figures are lower bounds (">="),
    its CPU seconds those it had spent, imports included."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # synth's default, and torch's
    torch_default = int(child("import json, torch; print(json.dumps(torch.get_num_threads()))", env=env, timeout=120))
    settings = [("default", "synth's default (1 thread)"),
                (str(torch_default), f"torch's default ({torch_default} threads, set explicitly)")]
    runs: dict[tuple[str, bool], list[dict]] = {(t, b): [] for t, _ in settings for b in (False, True)}
    data, meta = str(DATA / "actg175.csv"), str(DATA / "actg175.json")
    load = os.getloadavg()[0]
    for _ in range(repeats):
        for threads, _name in settings:
            for beside in (False, True):
                with busy_processes(neighbours if beside else 0, limit + 60):
                    cpu = _children_cpu()
                    try:
                        r = child(BUSY_FIT, data, meta, threads, str(epochs), env=env, timeout=limit)
                    except subprocess.TimeoutExpired:  # killed and waited for: its CPU time is counted
                        r = {"seconds": limit, "cpu": _children_cpu() - cpu, "stopped": True}  # lower bounds
                expect = 1 if threads == "default" else int(threads)
                if r.get("threads", expect) != expect:
                    raise SystemExit(f"bench/speed.py: a fit ran with {r['threads']} threads, not {expect}")
                runs[threads, beside].append(r)
    print(f"## Beside {neighbours} busy processes: ACTG175 fit, {epochs} epochs, ε = 1, on {os.cpu_count()} cores "
          f"(load average {load:.1f} before, {os.getloadavg()[0]:.1f} after), medians of {repeats}\n")
    print("| threads | alone: wall s | alone: CPU s | beside: wall s | beside: CPU s | beside / alone: wall "
          "| beside / alone: CPU |\n|---|---|---|---|---|---|---|")

    def median_of(group: list[dict]) -> tuple[dict, bool]:
        """Medians, and whether they are lower bounds (a run in the group was stopped)."""
        return {k: median(r[k] for r in group) for k in ("seconds", "cpu")}, any("stopped" in r for r in group)

    def shown(value: float, low: bool) -> str:
        return f"{'>= ' if low else ''}{value:.1f}"

    def ratio(top: float, top_low: bool, bottom: float, bottom_low: bool) -> str:
        if top_low and bottom_low:
            return "?"
        return f"{'>= ' if top_low else '<= ' if bottom_low else ''}{top / bottom:.2f}"

    for threads, name in settings:
        (alone, a_low), (beside, b_low) = median_of(runs[threads, False]), median_of(runs[threads, True])
        print(f"| {name} | {shown(alone['seconds'], a_low)} | {shown(alone['cpu'], a_low)} | "
              f"{shown(beside['seconds'], b_low)} | {shown(beside['cpu'], b_low)} | "
              f"{ratio(beside['seconds'], b_low, alone['seconds'], a_low)} | "
              f"{ratio(beside['cpu'], b_low, alone['cpu'], a_low)} |")
    cores = os.cpu_count() or 1
    print(f"\nA fair scheduler gives each of {neighbours + 1} busy processes 1/{neighbours + 1} of the cores: on an "
          f"otherwise idle {cores}-core machine a one-thread fit beside them takes at best "
          f"{max(1.0, (neighbours + 1) / cores):.2f}x its time alone, more while others' jobs hold cores too. "
          "A CPU ratio near 1 says its threads did not spin.\n")
