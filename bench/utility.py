"""Utility benchmark: ACTG175, label `cens`, 80/20 split by patient, ε = 1 and ε = ∞, 3 seeds.

    python -m bench.utility [--seeds 3] [--first-seed 0] [--epsilons 1,inf] [--dataset actg175 --label cens]
                            [--set OPTION=VALUE]   # --dataset gbsg2: bench/fixtures/
                            [--patients N]         # a fixed random N of the table's patients
                            [--noise-seed K]       # research only: noise seeded with K + seed (repeatable)

The DP noise is secret (OS entropy) by default, so a seed fixes the split, initialisation and
sampling but not the fit: compare means over seeds, or pass ``--noise-seed`` to repeat runs
exactly (the guarantee of such a fit assumes K is secret).

For each ε and seed: fit on the 80% (public metadata from data/), sample as many rows as the
training split, then report sdmetrics' QualityReport (overall, column shapes, column pair
trends) against the training split, and the mean AUROC on the real 20% of logistic
regression, random forest and gradient boosting trained on synthetic (TSTR) vs on real (TRTR).
The ratio TSTR/TRTR is the headline utility figure. Prints a markdown table: paste it into
bench/RESULTS.md with the command line.
"""

from __future__ import annotations

import argparse
import time
import warnings

import pandas as pd

from bench import common
from bench.common import (DETECTION_COLUMNS, TABLE_COLUMNS, load_table, noise_seed, parse_options, print_per_model,
                          print_table, score, split_by_patient)
from synth import Synthesizer

def run_one(df, meta, key, label, epsilon, seed, noise_base=None, **options):
    train, test = split_by_patient(df, key, seed)
    started = time.perf_counter()
    synth = Synthesizer(epsilon=epsilon, label=label, seed=seed, noise_seed=noise_seed(noise_base, seed),
                        **options).fit(train, meta)
    fit_s = time.perf_counter() - started
    syn = synth.sample(len(train), seed=seed)
    return {"epsilon": epsilon, "seed": seed, "spent": synth.ledger.epsilon(),
            **score(train, syn, test, meta, label, seed), "fit_s": fit_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="actg175")
    parser.add_argument("--label", default="cens")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (more seeds in parts)")
    parser.add_argument("--epsilons", default="1,inf")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="a training option other than the default (for the tuning log)")
    parser.add_argument("--patients", type=int, default=None,
                        help="keep a fixed random N of the patients (a small table from a large one)")
    parser.add_argument("--noise-seed", type=int, default=None, metavar="K",
                        help="research only: seed the DP noise with K + seed so runs repeat exactly")
    parser.add_argument("--detection", action="store_true",
                        help="also report detection AUROC and the numerical columns' shape scores")
    args = parser.parse_args()
    common.DETECTION = args.detection  # read by score
    options = parse_options(args.set)
    if args.seeds < 1 or args.first_seed < 0:
        parser.error(f"--seeds, --first-seed: expected at least 1 and at least 0, "
                     f"got {args.seeds} and {args.first_seed}")
    warnings.filterwarnings("ignore", category=UserWarning)
    df, meta = load_table(args.dataset)
    from synth import Metadata

    key = Metadata.load(meta).primary_key
    if args.patients is not None:
        ids = df[key].unique()
        if not 10 <= args.patients <= len(ids):
            parser.error(f"--patients: expected 10 to {len(ids)} (the table's patients), got {args.patients}")
        keep = pd.Series(ids).sample(n=args.patients, random_state=0)  # one row each: the rows of item 47
        df = df.set_index(key, drop=False).loc[keep.to_numpy()].reset_index(drop=True)
    rows = []
    for eps in [float(e) for e in args.epsilons.split(",")]:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            row = run_one(df, meta, key, args.label, eps, seed, args.noise_seed, **options)
            more = (f" detection {row['detection']:.3f} numeric shapes {row['shapes']}" if common.DETECTION else "")
            print(f"  ε={eps} seed={seed}: quality {row['quality']:.3f} ratio {row['ratio']:.3f}{more} "
                  f"({row['fit_s']:.0f} s)", flush=True)
            rows.append(row)
    res = pd.DataFrame(rows)
    subset = f" ({args.patients} patients)" if args.patients else ""
    print(f"\n{args.dataset}{subset}, label {args.label}, 80/20 split by patient, {args.seeds} seeds (mean ± sd)"
          f"{', options ' + str(options) if options else ''}\n")
    print_table(res, TABLE_COLUMNS + (DETECTION_COLUMNS if common.DETECTION else []))
    print_per_model(res)


if __name__ == "__main__":
    main()
