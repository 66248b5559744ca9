"""Item 68 (bench/RESULTS.md): rules that put every synthetic patient's first visit at the trial's
baseline day, scored side by side on the same pbcseq fits (80/20 split by patient, label `status`,
ε = 1), each followed by the shipped follow-up end (item 67).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.first_visit [--first-seed 0] [--seeds 3]

Every rule is post-processing of the generator (no privacy cost):
- ended: the shipped sample (visits after `futime` dropped, item 67);
- shift: each patient's visits moved earlier together so that the first falls on day 0 (the
  gaps between visits kept), then ended at `futime`;
- absorb: the first visit set to day 0 and the later visits left where they were (the first
  gap takes up the difference), then ended at `futime`.
Prints one line per seed and rule, then the means and the paired differences from ended.
"""

from __future__ import annotations


import pandas as pd

from bench.dev.studies.visit_end import compare_rules, trunc
from synth import Metadata, Synthesizer

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
    def rules(synth: Synthesizer, n: int, seed: int, meta: Metadata) -> tuple[pd.DataFrame, ...]:
        ended = synth.sample(n, seed=seed)
        layout = synth._state()["encoder"].layout
        layout.end = None  # the same draws, visits not yet ended
        free = synth.sample(n, seed=seed)
        layout.end = "futime"
        pd.testing.assert_frame_equal(ended, trunc(free, meta))
        return ended, trunc(shift(free, meta), meta), trunc(absorb(free, meta), meta)

    compare_rules(__doc__, RULES, rules, "first_visit_at")  # ended: item 67's shipped sample


if __name__ == "__main__":
    main()
