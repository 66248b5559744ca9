"""The CI overlap a faithful synthetic sample can expect (issue 46, bench/RESULTS.md "What a
faithful sample can reach on HIV results").

    OMP_NUM_THREADS=1 python -m bench.dev.studies.faithful_floor [--dataset hiv_results] [--splits 10] [--draws 10]

A synthetic table of the training split's size drawn afresh from the split's own rows (a
bootstrap: the real answer exactly, plus the sampling noise any freshly drawn sample has), its
declared analysis compared with the split's as bench/analysis.py compares a synthesizer's. No
method that samples rows afresh can expect a higher mean overlap than this, nor less false
significance (a fresh sample's effect significant where the split's is not).
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from bench.analysis import TRIALS, declared
from bench.common import split_by_patient
from bench.trials import load_trial
from synth import Metadata
from synth.eval.analysis import analysis_fidelity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="hiv_results")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    df, meta_path = load_trial(args.dataset)
    meta = Metadata.load(declared(meta_path, TRIALS[args.dataset][0]))
    overlaps, null = [], []  # null: where the real effect is not significant, whether the fresh one is
    for seed in range(args.splits):
        train, _ = split_by_patient(df, meta.primary_key, seed)
        rng = np.random.default_rng(1000 + seed)
        for _ in range(args.draws):
            fresh = train.sample(len(train), replace=True, random_state=int(rng.integers(1 << 31)))
            for e in analysis_fidelity(train, fresh, meta, meta.analysis)["effects"]:
                overlaps.append(e["ci_overlap"])
                real_p, fresh_p = e["real"].get("p_value"), e["synthetic"].get("p_value")
                if real_p is not None and fresh_p is not None and real_p >= 0.05:
                    null.append(fresh_p < 0.05)
    o = np.array([np.nan if v is None else v for v in overlaps], dtype=float)
    print(f"{args.dataset}: a faithful fresh sample's mean overlap {np.nanmean(o):.3f} (sd {np.nanstd(o):.3f}, "
          f"{len(o)} effects x draws); the sd of a mean of 3 seeds {np.nanstd(o) / np.sqrt(3):.3f}")
    if null:
        print(f"  where the real effect is not significant ({len(null)} effects x draws), the fresh sample's is "
              f"{np.mean(null):.0%} of the time")


if __name__ == "__main__":
    main()
