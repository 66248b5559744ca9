"""Item 71 (bench/RESULTS.md): a censored event time set equal to the end of follow-up, scored
against the shipped sample on the same fits (mgus2, label `death`, ε = 1, 80/20 split by patient).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.censored_equal [--first-seed 0] [--seeds 6]

mgus2 records a progression time `ptime` equal to `futime` whenever no progression was seen
(`pstat` = 0; every real row). Rules, both post-processing of the shipped sample (no privacy cost):
- shipped: the sample as `Synthesizer.sample` writes it (item 69's `ptime <= futime` kept);
- equal: `ptime` := `futime` where `pstat` is 0.
Prints one line per seed and rule, then the means and the paired differences from shipped.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from bench.common import load_table, score, split_by_patient
from bench.dev.studies.visit_end import print_paired
from synth import Metadata, Synthesizer

RULES = ("shipped", "equal")


def equal_when_censored(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    censored = (out["pstat"] == 0).to_numpy(bool, na_value=False)
    out.loc[censored, "ptime"] = out.loc[censored, "futime"]
    return out


def equal_share(df: pd.DataFrame) -> float:
    """Share of rows without progression whose `ptime` equals `futime`."""
    censored = df[df["pstat"] == 0]
    return float((censored["ptime"] == censored["futime"]).mean()) if len(censored) else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    df, meta_path = load_table("mgus2")
    meta = Metadata.load(meta_path)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        train, test = split_by_patient(df, meta.primary_key, seed)
        shipped = Synthesizer(epsilon=1.0, label="death", seed=seed).fit(train, meta).sample(len(train), seed=seed)
        for rule, syn in zip(RULES, (shipped, equal_when_censored(shipped)), strict=True):
            s = score(train, syn, test, meta, "death", seed)
            rows.append({"seed": seed, "rule": rule, "equal_when_censored": equal_share(syn),
                         "quality": s["quality"], "column_shapes": s["column_shapes"],
                         "pair_trends": s["column_pair_trends"], "ratio": s["ratio"]})
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    print(f"\nreal training rows: {equal_share(df):.3f} of rows without progression have ptime == futime")
    print_paired(rows, RULES)
    d = np.array([r["quality"] for r in rows if r["rule"] == "equal"]) - np.array(
        [r["quality"] for r in rows if r["rule"] == "shipped"])
    if len(d) > 1:
        print(f"\nquality paired {d.mean():+.4f} (se {d.std(ddof=1) / np.sqrt(len(d)):.4f}), up on {(d > 0).sum()}")


if __name__ == "__main__":
    main()
