"""Issue 48 (bench/RESULTS.md, "Scheduled trials never tuned on"): where a method's quality on a
scheduled trial comes from: sdmetrics' per-column shape and per-pair trend scores of the wide
pivot, averaged over seeds, for each method (the same fits and splits as bench/schedule.py).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.schedule_details --fixtures arthritis --methods synth \
        --seeds 3 --out synth.json           # mst/aim: the SmartNoise venv, PYTHONPATH at the repository
    python -m bench.dev.studies.schedule_details --compare synth.json mst.json

A diagnostic, not a tuning run: it reads what a loss is made of and changes nothing.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import pandas as pd

from bench.common import split_by_patient
from bench.schedule import fit_sample, load_trial, on_schedule, read_schedule
from synth import Metadata


def details(name: str, method: str, seed: int, epsilon: float, bins: int) -> dict[str, float]:
    """{column: shape score, "a | b": pair trend score} for one fit of ``method``."""
    from sdmetrics.reports import QualityReport

    from synth.eval.fidelity import _sdv

    df, meta_path, label, _ = load_trial(name)
    doc = json.loads(meta_path.read_text())
    meta = Metadata.load(doc)
    train, _ = split_by_patient(df, meta.sequence_key, seed)
    schedule = read_schedule(meta, label)
    syn, _ = fit_sample(method, train, doc, schedule, label, epsilon, seed, bins)
    syn = on_schedule(syn, meta, schedule.times)
    wide_meta = schedule.wide_metadata()
    report = QualityReport()
    report.generate({wide_meta.table_name: schedule.to_wide(train, "train")},
                    {wide_meta.table_name: schedule.to_wide(syn, "synthetic")}, _sdv(wide_meta), verbose=False)
    out = {str(r["Column"]): float(r["Score"]) for _, r in report.get_details("Column Shapes").iterrows()}
    for _, r in report.get_details("Column Pair Trends").iterrows():
        out[f"{r['Column 1']} × {r['Column 2']}"] = float(r["Score"])
    return out


def compare(paths: list[str]) -> None:
    """One row per column or pair, one column per method (mean over seeds), largest spread first."""
    frames = {}
    for p in paths:
        for method, per_seed in json.loads(Path(p).read_text()).items():
            frames[method] = pd.DataFrame(per_seed).mean()
    table = pd.DataFrame(frames)
    table = table.loc[(table.max(axis=1) - table.min(axis=1)).sort_values(ascending=False).index]
    print("| column or pair | " + " | ".join(table.columns) + " |")
    print("|---" * (len(table.columns) + 1) + "|")
    for name, row in table.iterrows():
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default="arthritis")
    parser.add_argument("--methods", default="synth")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--bins", type=int, default=16)
    parser.add_argument("--out")
    parser.add_argument("--compare", nargs="+")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare)
        return
    warnings.filterwarnings("ignore")
    result = {m: [details(args.fixtures, m, s, args.epsilon, args.bins) for s in range(args.seeds)]
              for m in args.methods.split(",")}
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
