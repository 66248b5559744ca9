"""Item 69 (bench/RESULTS.md): rules that keep `low <= high` between two columns of a synthetic
row, scored side by side on the same fits (80/20 split by patient, label `death`, ε = 1).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.inequality [--datasets mgus2,rotterdam,myeloid]
        [--first-seed 0] [--seeds 3]

The inequalities are facts of each table's schema (every real row keeps them):
mgus2 `ptime <= futime`; rotterdam `rtime <= dtime`; myeloid `txtime`, `crtime`, `rltime <=
futime` and `crtime <= rltime`. Every rule is post-processing of the generator (no privacy cost):
- raw: the sample as drawn;
- lower: `low` lowered to `high` where it exceeds it (repeated over the pairs, values only falling);
- raise: `high` raised to `low` where it is below it (likewise, values only rising); shipped after
  item 69 as synth.schema.inequalities, and checked here against `Synthesizer.sample` with the pairs named;
- swap: the two values exchanged where `low` exceeds `high` (in the pairs' order, repeated).
Prints one line per table, seed and rule, then per table and pooled the means and the paired
differences from raw.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from sdmetrics.single_column import KSComplement

from bench.common import load_table, score, split_by_patient
from bench.dev.studies.visit_end import print_paired
from synth import Metadata, Synthesizer
from synth.encode.inequalities import ceilings
from synth.sample.rules import apply_inequalities
from synth.schema.inequalities import KEY, Inequality

PAIRS = {"mgus2": [("ptime", "futime")], "rotterdam": [("rtime", "dtime")],
         "myeloid": [("txtime", "futime"), ("crtime", "futime"), ("rltime", "futime"), ("crtime", "rltime")]}
RULES = ("raw", "lower", "raise", "swap")


def lower_low(df: pd.DataFrame, pairs: list[Inequality]) -> pd.DataFrame:
    out = df.copy()
    for _ in range(len(pairs) + 2):
        for p in pairs:
            bad = (out[p.low] > out[p.high]).fillna(False)
            out.loc[bad, p.low] = out.loc[bad, p.high]
    return out


def swap(df: pd.DataFrame, pairs: list[Inequality]) -> pd.DataFrame:
    out = df.copy()
    for _ in range(len(pairs) + 2):
        for p in pairs:
            bad = (out[p.low] > out[p.high]).fillna(False)
            low, high = out.loc[bad, p.low].copy(), out.loc[bad, p.high].copy()
            out.loc[bad, p.low], out.loc[bad, p.high] = high, low
    return out


def violations(df: pd.DataFrame, pairs: list[Inequality]) -> float:
    bad = np.zeros(len(df), bool)
    for p in pairs:
        bad |= (df[p.low] > df[p.high]).fillna(False).to_numpy()
    return float(bad.mean())


def constrained_shape(train: pd.DataFrame, syn: pd.DataFrame, pairs: list[Inequality]) -> float:
    cols = sorted({c for p in pairs for c in (p.low, p.high)})
    return float(np.mean([KSComplement.compute(train[c].dropna(), syn[c].dropna()) for c in cols]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="mgus2,rotterdam,myeloid")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    names = args.datasets.split(",")
    if args.seeds < 1 or args.first_seed < 0 or not set(names) <= set(PAIRS):
        parser.error(f"expected --seeds >= 1, --first-seed >= 0 and --datasets among {', '.join(PAIRS)}")
    warnings.filterwarnings("ignore", category=UserWarning)
    rows = []
    for name in names:
        df, meta_path = load_table(name)
        meta = Metadata.load(meta_path)
        meta.extra.pop(KEY, None)  # the fit as it stood before item 69: rules applied here by hand
        pairs = [Inequality(lo, hi) for lo, hi in PAIRS[name]]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            train, test = split_by_patient(df, meta.primary_key, seed)
            synth = Synthesizer(epsilon=1.0, label="death", seed=seed).fit(train, meta)
            raw = synth.sample(len(train), seed=seed)
            cols = {c.name: c for c in synth.domain.columns if c.name in {x for p in pairs for x in (p.low, p.high)}}
            raised = apply_inequalities(raw, pairs, ceilings(pairs, cols), cols)
            synth.metadata.extra[KEY] = [{"low": p.low, "high": p.high} for p in pairs]
            pd.testing.assert_frame_equal(raised, synth.sample(len(train), seed=seed))  # the shipped path
            for rule, syn in zip(RULES, (raw, lower_low(raw, pairs), raised, swap(raw, pairs)), strict=True):
                s = score(train, syn, test, meta, "death", seed)
                rows.append({"table": name, "seed": seed, "rule": rule, "violating": violations(syn, pairs),
                             "quality": s["quality"], "pair_trends": s["column_pair_trends"],
                             "ratio": s["ratio"], "constrained_shape": constrained_shape(train, syn, pairs)})
                print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                      flush=True)
    res = pd.DataFrame(rows)
    for name in names:
        print(f"\n{name}:")
        print_paired(res[res.table == name].drop(columns="table").to_dict("records"), RULES)
    res["seed"] = res["table"] + ":" + res["seed"].astype(str)
    print("\npooled:")
    print_paired(res.drop(columns="table").to_dict("records"), RULES)


if __name__ == "__main__":
    main()
