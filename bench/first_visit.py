"""Item 68 (bench/RESULTS.md): rules that put every synthetic patient's first visit at the trial's
baseline day, scored side by side on the same pbcseq fits (80/20 split by patient, label `status`,
ε = 1), each followed by the shipped follow-up end (item 67).

    OMP_NUM_THREADS=1 python bench/first_visit.py [--first-seed 0] [--seeds 3]

Every rule is post-processing of the generator (no privacy cost):
- ended: the shipped sample (visits after `futime` dropped, item 67);
- shift: each patient's visits moved earlier together so that the first falls on day 0 (the
  gaps between visits kept), then ended at `futime`;
- absorb: the first visit set to day 0 and the later visits left where they were (the first
  gap takes up the difference), then ended at `futime`.
Prints one line per seed and rule, then the means and the paired differences from ended.
"""

from __future__ import annotations

import argparse
import warnings

import pandas as pd

from synth import Metadata, Synthesizer
from utility import split_by_patient
from visit_end import pbcseq_without, print_paired, score, trunc

BASELINE = 0
RULES = ("ended", "shift", "absorb")


def shift(free: pd.DataFrame, meta: Metadata) -> pd.DataFrame:
    first = free.groupby(meta.sequence_key)[meta.sequence_index].transform("min")
    return free.assign(**{meta.sequence_index: free[meta.sequence_index] - first + BASELINE})


def absorb(free: pd.DataFrame, meta: Metadata) -> pd.DataFrame:
    d = free.sort_values([meta.sequence_key, meta.sequence_index], kind="stable").copy()
    d.loc[~d[meta.sequence_key].duplicated(), meta.sequence_index] = BASELINE
    return d.reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    df, meta = pbcseq_without("first_visit_at")  # ended: item 67's shipped sample
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        train, test = split_by_patient(df, meta.sequence_key, seed)
        synth = Synthesizer(epsilon=1.0, label="status", seed=seed).fit(train, meta)
        n = train[meta.sequence_key].nunique()
        ended = synth.sample(n, seed=seed)
        layout = synth._state()["encoder"].layout
        layout.end = None  # the same draws, visits not yet ended
        free = synth.sample(n, seed=seed)
        layout.end = "futime"
        pd.testing.assert_frame_equal(ended, trunc(free, meta))
        for rule, syn in zip(RULES, (ended, trunc(shift(free, meta), meta), trunc(absorb(free, meta), meta))):
            rows.append({"seed": seed, "rule": rule, **score(train, test, syn, meta, seed)})
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    print_paired(rows, RULES)


if __name__ == "__main__":
    main()
