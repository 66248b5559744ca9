"""Item 72 (bench/RESULTS.md): a small class's noisy label tables pulled toward the classes it
resembles (empirical Bayes, post-processing of released tables), scored against the shipped
defaults on the same splits.

    OMP_NUM_THREADS=1 python -m bench.dev.studies.class_shrinkage --dataset pbcseq [--first-seed 0] [--seeds 3]
    OMP_NUM_THREADS=1 python -m bench.dev.studies.class_shrinkage --dataset actg175 --label cens --seeds 3
    python -m bench.dev.studies.class_shrinkage --dataset pbcseq --seeds 12 --tables-only   # weights and B, no training

The rule: every label value's row over all label tables' cells, divided by its DP class size, is
fitted in least squares by a convex combination of the other values' rows; the row is then
pulled toward that fit by James–Stein's factor B = min(1, (d - 2) / sum(r^2 / v)), with r the
residual (centred within each table, whose total is known), v its noise variance per cell
and d the free cells (one fewer per table). It runs on
the tables ``release_tables`` returns, before anything reads them, by wrapping that function.
Prints one line per seed and variant, then the means and the paired differences from shipped.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import nnls

import synth.preparation as preparation
from bench.common import DATA, load_table, score, score_patients, split_by_patient
from bench.dev.studies.visit_end import print_paired
from synth import Metadata, Synthesizer
from synth.eval.sequences import patient_features, per_visit_quality
from synth.privacy.marginals import MarginalTable

VARIANTS = ("shipped", "shrunk")


def convex_fit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weights w >= 0 summing to 1 minimising ||a w - b|| (the sum held by a heavy extra row)."""
    heavy = 1e3 * max(1.0, float(np.abs(a).max()))
    return nnls(np.vstack([a, np.full((1, a.shape[1]), heavy)]), np.append(b, heavy))[0]


def shrink_label_tables(tables: list[MarginalTable]) -> list[dict]:
    """Pull each label value's rows of the noisy label tables toward the convex combination of the
    other values' rows that fits them best (in place); returns each value's weights and B."""
    labelled = [t for t in tables if t.by_label and t.totals is not None and t.sigma > 0 and len(t.counts) > 1]
    if not labelled:
        return []
    sizes = np.asarray(labelled[0].totals, dtype=float)
    k_classes = len(sizes)
    rows = np.concatenate([t.counts.reshape(k_classes, -1) / sizes[:, None] for t in labelled], axis=1)
    var = np.concatenate([np.full(t.counts[0].size, t.sigma ** 2) for t in labelled])
    free = sum(t.counts[0].size - 1 for t in labelled)
    out, shrunk = [], rows.copy()
    for k in range(k_classes):
        others = [j for j in range(k_classes) if j != k]
        w = convex_fit(rows[others].T, rows[k])
        fit = w @ rows[others]
        resid = rows[k] - fit
        start = 0
        for t in labelled:  # the totals are known: only each table's deviations within it are signal
            width = t.counts[0].size
            resid[start:start + width] -= resid[start:start + width].mean()
            start += width
        v = var / sizes[k] ** 2 + sum(wj ** 2 * var / sizes[j] ** 2 for wj, j in zip(w, others))
        b = min(1.0, (free - 2) / float(np.sum(resid ** 2 / v)))
        shrunk[k] = fit + (1 - b) * resid
        out.append({"class": k, "weights": dict(zip(others, np.round(w, 3).tolist())), "B": round(b, 3)})
    start = 0
    for t in labelled:
        width = t.counts[0].size
        t.counts = (shrunk[:, start:start + width] * sizes[:, None]).reshape(t.counts.shape)
        start += width
    return out


def fit_sample(train: pd.DataFrame, meta: Metadata, label: str, seed: int, shrink: bool) -> pd.DataFrame:
    original = preparation.release_tables
    report = []

    def wrapped(*args, **kwargs):
        tables, proportions = original(*args, **kwargs)
        report.extend(shrink_label_tables(tables))
        return tables, proportions

    if shrink:
        preparation.release_tables = wrapped
    try:
        s = Synthesizer(epsilon=1.0, label=label, seed=seed).fit(train, meta)
    finally:
        preparation.release_tables = original
    if shrink:
        print("  shrinkage:", report, flush=True)
    n = train[meta.sequence_key].nunique() if meta.sequence_key else len(train)
    return s.sample(n, seed=seed)


class _Released(Exception):
    """Raised once the tables are released, to stop a fit before training (--tables-only)."""


def print_shrinkage(train: pd.DataFrame, meta: Metadata, label: str, seed: int) -> None:
    """Each label value's weights and B on this split's released tables; no training."""
    original = preparation.release_tables

    def released(*args, **kwargs):
        tables, _ = original(*args, **kwargs)
        print(f"seed={seed}", shrink_label_tables(tables), flush=True)
        raise _Released

    preparation.release_tables = released
    try:
        Synthesizer(epsilon=1.0, label=label, seed=seed).fit(train, meta)
    except _Released:
        pass
    finally:
        preparation.release_tables = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="pbcseq")
    parser.add_argument("--label", default="status")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables-only", action="store_true", help="print each value's weights and B; no training")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.dataset == "pbcseq":
        df, meta = pd.read_csv(DATA / "pbcseq.csv"), Metadata.load(DATA / "pbcseq.json")
    else:
        df, meta_path = load_table(args.dataset)
        meta = Metadata.load(meta_path)
    key = meta.sequence_key or meta.primary_key
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        train, test = split_by_patient(df, key, seed)
        if args.tables_only:
            print_shrinkage(train, meta, args.label, seed)
            continue
        for variant in VARIANTS:
            syn = fit_sample(train, meta, args.label, seed, variant == "shrunk")
            if meta.sequence_key:
                f_train, f_syn, f_test = (patient_features(d, meta) for d in (train, syn, test))
                s = score_patients(f_train, f_syn, f_test, meta, args.label, seed)
                row = {"ratio": s["ratio"],
                       "per_visit_quality": per_visit_quality(train, syn, meta)["per_visit_quality"],
                       **{f"tstr_{c}": v["tstr"] for c, v in s["per_class"].items()}}
            else:
                s = score(train, syn, test, meta, args.label, seed)
                row = {"quality": s["quality"], "pair_trends": s["column_pair_trends"], "ratio": s["ratio"]}
            rows.append({"seed": seed, "rule": variant, **row})
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    if rows:
        print_paired(rows, VARIANTS)


if __name__ == "__main__":
    main()
