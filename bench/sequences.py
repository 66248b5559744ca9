"""Sequence benchmark: pbcseq (Mayo PBC visits), label `status`, 80/20 split by patient, 3 seeds.

    OMP_NUM_THREADS=1 python -m bench.sequences [--seeds 3] [--epsilons 1,inf] [--set OPTION=VALUE]
                                                [--noise-seed K]   # research only, as in utility.py

For each ε and seed: fit on the 80% of patients (all their visits), sample as many synthetic
patients, then report: per-patient TSTR vs TRTR AUROC (LR/RF/GB, one-vs-rest over the three
`status` values) on the real 20%, from static columns plus first/last/mean/slope of each lab
and the visit count; total variation distance between visit-count distributions; per-visit
marginal quality (KS/TV complement per visit number); lag-1 autocorrelation of each lab, real
vs synthetic (mean absolute difference); and each `status` value's own one-vs-rest AUROC,
TSTR vs TRTR (the ratio's AUROC is their mean, so a class the synthetic data cannot rank shows
there). Prints markdown tables for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import noise_seed, parse_options, print_table, score_patients, split_by_patient
from synth import Metadata, Synthesizer
from synth.eval.sequences import (lag1_autocorrelation, patient_features, per_visit_quality, visit_count_distance,
                                  visit_time_quality)

DATA = Path(__file__).resolve().parent.parent / "data"


def run_one(df, meta_path, label, epsilon, seed, noise_base=None, **options):
    meta = Metadata.load(meta_path)
    train, test = split_by_patient(df, meta.sequence_key, seed)
    started = time.perf_counter()
    synth = Synthesizer(epsilon=epsilon, label=label, seed=seed, noise_seed=noise_seed(noise_base, seed),
                        **options).fit(train, meta)
    fit_s = time.perf_counter() - started
    syn = synth.sample(train[meta.sequence_key].nunique(), seed=seed)
    f_train, f_syn, f_test = (patient_features(d, meta) for d in (train, syn, test))
    ac_real, ac_syn = lag1_autocorrelation(train, meta), lag1_autocorrelation(syn, meta)
    ac_gap = float(np.nanmean([abs(ac_real[c] - ac_syn[c]) for c in ac_real]))
    return {"epsilon": epsilon, "seed": seed, "spent": synth.ledger.epsilon(),
            **score_patients(f_train, f_syn, f_test, meta, label, seed),
            "visit_tvd": visit_count_distance(train, syn, meta.sequence_key),
            "per_visit_quality": per_visit_quality(train, syn, meta)["per_visit_quality"],
            "visit_time_quality": visit_time_quality(train, syn, meta)["visit_time_quality"],
            "lag1_gap": ac_gap, "lag1_real": ac_real, "lag1_syn": ac_syn, "fit_s": fit_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="status")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (more seeds in parts)")
    parser.add_argument("--epsilons", default="1,inf")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE")
    parser.add_argument("--noise-seed", type=int, default=None, metavar="K",
                        help="research only: seed the DP noise with K + seed so runs repeat exactly")
    args = parser.parse_args()
    options = parse_options(args.set)
    if args.seeds < 1 or args.first_seed < 0:
        parser.error(f"--seeds, --first-seed: expected at least 1 and at least 0, "
                     f"got {args.seeds} and {args.first_seed}")
    warnings.filterwarnings("ignore", category=UserWarning)
    df = pd.read_csv(DATA / "pbcseq.csv")
    rows = []
    for eps in [float(e) for e in args.epsilons.split(",")]:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = run_one(df, DATA / "pbcseq.json", args.label, eps, seed, args.noise_seed, **options)
            print(f"  ε={eps} seed={seed}: ratio {row['ratio']:.3f} per-visit quality "
                  f"{row['per_visit_quality']:.3f} visit TVD {row['visit_tvd']:.3f} visit-time quality "
                  f"{row['visit_time_quality']:.3f} ({row['fit_s']:.0f} s)", flush=True)
            rows.append(row)
    res = pd.DataFrame(rows)
    print(f"\npbcseq, label {args.label}, 80/20 split by patient, {args.seeds} seeds (mean ± sd)"
          f"{', options ' + str(options) if options else ''}\n")
    print_table(res, [("AUROC TSTR", "auroc_tstr"), ("AUROC TRTR", "auroc_trtr"), ("ratio", "ratio"),
                      ("per-visit quality", "per_visit_quality"), ("visit-count TVD", "visit_tvd"),
                      ("visit-time quality", "visit_time_quality"),
                      ("lag-1 autocorr. gap", "lag1_gap")])
    print("\nper class (one-vs-rest AUROC, mean over LR/RF/GB and the seeds; the ratio's AUROC is their mean):")
    print("| ε | class | real test patients per seed | TSTR | TRTR | TSTR / TRTR |\n|---|---|---|---|---|---|")
    for eps, part in res.groupby("epsilon", sort=False):
        for c in part["per_class"].iloc[0]:
            tstr = np.mean([p[c]["tstr"] for p in part["per_class"]])
            trtr = np.mean([p[c]["trtr"] for p in part["per_class"]])
            print(f"| {eps} | {c} | {np.mean(part['n_test_' + c]):.1f} | {tstr:.3f} | {trtr:.3f} | {tstr / trtr:.3f} |")
    last = res.iloc[-1]
    print("\nlag-1 autocorrelation, real vs synthetic (last run):")
    print("| lab | real | synthetic |\n|---|---|---|")
    for c in last["lag1_real"]:
        print(f"| {c} | {last['lag1_real'][c]:.2f} | {last['lag1_syn'][c]:.2f} |")


if __name__ == "__main__":
    main()
