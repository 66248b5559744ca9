"""Evaluation cost: a full `evaluate` of 10,000 real vs 10,000 synthetic rows, 10/20/30 columns.

    OMP_NUM_THREADS=2 python -m bench.evaluate [--rows 10000] [--columns 10,20,30]

Tables are generated (two thirds numerical with correlated pairs, one third categorical, a
binary target); the synthetic side is a noisy copy. Prints seconds per step side by side for
each width and each step's share of the total, so how the cost scales with the number of
columns (SDMetrics' pair trends are quadratic in it) reads off one run.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from synth.eval import evaluate
from synth.eval.evaluate import STEPS


def make_table(rows: int, cols: int, seed: int) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    n_num = cols * 2 // 3
    base = rng.normal(size=(rows, 3))
    data, meta = {}, {}
    for i in range(n_num):
        data[f"x{i}"] = base[:, i % 3] * (1 + i % 4) + rng.normal(size=rows)
        meta[f"x{i}"] = {"sdtype": "numerical"}
    for j in range(cols - n_num - 1):
        data[f"c{j}"] = np.where(base[:, j % 3] + rng.normal(size=rows) > 0, "yes", "no")
        meta[f"c{j}"] = {"sdtype": "categorical"}
    data["target"] = (base[:, 0] + rng.normal(size=rows) > 0).astype(int)
    meta["target"] = {"sdtype": "categorical"}
    return pd.DataFrame(data), {"columns": meta, "METADATA_SPEC_VERSION": "SINGLE_TABLE_V1"}


def run(rows: int, cols: int) -> dict[str, float]:
    real, meta = make_table(rows, cols, 0)
    syn, _ = make_table(rows, cols, 1)
    hold, _ = make_table(rows // 4, cols, 2)
    times, last = {}, [time.perf_counter(), None]

    def progress(step: str, i: int, total: int) -> None:
        now = time.perf_counter()
        if last[1] is not None:
            times[last[1]] = now - last[0]
        last[:] = [now, step]

    started = time.perf_counter()
    report = evaluate(real, syn, meta, target="target", holdout=hold, progress=progress)
    report.to_html()
    end = time.perf_counter()
    times[last[1]] = end - last[0]  # plots and HTML
    times["total"] = end - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--columns", default="10,20,30")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    widths = [int(c) for c in args.columns.split(",")]
    res = {w: run(args.rows, w) for w in widths}
    widest = widths[-1]
    print(f"\nevaluate(): {args.rows:,} real vs {args.rows:,} synthetic rows (+{args.rows // 4:,} holdout), "
          f"target binary\n")
    print("| step | " + " | ".join(f"{w} cols, s" for w in widths) + f" | share at {widest} cols | "
          f"{widest} / {widths[0]} cols |")
    print("|---|" + "---|" * (len(widths) + 2))
    for step in [*STEPS, "total"]:
        cells = " | ".join(f"{res[w].get(step, 0):.1f}" for w in widths)
        share = res[widest].get(step, 0) / res[widest]["total"]
        ratio = res[widest].get(step, 0) / max(res[widths[0]].get(step, 0), 1e-9)
        print(f"| {step} | {cells} | {share:.0%} | {ratio:.1f}× |")


if __name__ == "__main__":
    main()
