"""Issue 37 (bench/RESULTS.md, "Fidelity past the tables"): what does the detector read?

    OMP_NUM_THREADS=1 python -m bench.dev.studies.detector_features [--dataset actg175 --label cens]
        [--epsilons 1,inf] [--seeds 2]

For each fit (80% of patients, synth as shipped), the detection AUROC (synth.eval.fidelity.detection:
real training rows against as many synthetic rows, 3-fold gradient boosting) of:
- all columns (the figure `synth evaluate` reports);
- all columns with every numerical value replaced by its bin among the released domain's 10
  bins (what the tables describe), real and synthetic alike: what is left once the within-bin
  shape is hidden;
- each column alone, and all columns but that one (the five largest drops are printed).
Only evaluation of a finished fit: nothing here changes what synth releases.
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import pandas as pd

from bench.common import load_table, split_by_patient
from synth import Metadata, Synthesizer
from synth.encode.table import NUMERIC_BINS, to_unit
from synth.eval.fidelity import detection


def binned(df: pd.DataFrame, synth: Synthesizer) -> pd.DataFrame:
    """Each numerical column's values → the index of their bin in the fit's released domain."""
    out = df.copy()
    for col in synth.domain.columns:
        if col.sdtype == "numerical" and col.name in out and col.lo is not None:
            x = pd.to_numeric(out[col.name], errors="coerce").to_numpy(float)
            unit = to_unit(col, np.where(np.isnan(x), col.lo, x))
            b = np.minimum((unit * NUMERIC_BINS).astype(int), NUMERIC_BINS - 1).astype(float)
            out[col.name] = np.where(np.isnan(x), np.nan, b)
    return out


def sub_metadata(meta: Metadata, columns: list[str]) -> Metadata:
    return Metadata({c: meta.columns[c] for c in columns}, meta.table_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="actg175")
    parser.add_argument("--label", default="cens")
    parser.add_argument("--epsilons", default="1,inf")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    df, meta_path = load_table(args.dataset)
    meta = Metadata.load(meta_path)
    columns = [c for c in meta.columns if meta.sdtype(c) not in ("id", "pii")]
    for eps in (float(e) for e in args.epsilons.split(",")):
        for seed in range(args.seeds):
            train, _ = split_by_patient(df, meta.primary_key, seed)
            synth = Synthesizer(epsilon=eps, label=args.label, seed=seed).fit(train, meta_path)
            syn = synth.sample(len(train), seed=seed)
            full = detection(train, syn, meta, seed)
            in_bins = detection(binned(train, synth), binned(syn, synth), meta, seed)
            alone, without = {}, {}
            for c in columns:
                alone[c] = detection(train[[c]], syn[[c]], sub_metadata(meta, [c]), seed)
                rest = [d for d in columns if d != c]
                without[c] = detection(train[rest], syn[rest], sub_metadata(meta, rest), seed)
            eps_name = "∞" if math.isinf(eps) else f"{eps:g}"
            top_alone = sorted(alone.items(), key=lambda kv: -kv[1])[:6]
            top_drop = sorted(without.items(), key=lambda kv: kv[1])[:5]
            print(f"ε = {eps_name} seed {seed}: all {full:.3f}; numerical in released bins {in_bins:.3f}", flush=True)
            print("  alone: " + ", ".join(f"{c} {v:.3f}" for c, v in top_alone), flush=True)
            print("  without: " + ", ".join(f"{c} {v:.3f}" for c, v in top_drop), flush=True)


if __name__ == "__main__":
    main()
