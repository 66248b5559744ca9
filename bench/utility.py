"""Utility benchmark: ACTG175, label `cens`, 80/20 split by patient, ε = 1 and ε = ∞, 3 seeds.

    python bench/utility.py [--seeds 3] [--first-seed 0] [--epsilons 1,inf] [--dataset actg175 --label cens]
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
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from synth import Synthesizer
from synth.eval import quality, tstr_auroc

DATA = Path(__file__).resolve().parent.parent / "data"


def split_by_patient(df: pd.DataFrame, key: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = df[key].unique()
    rng = np.random.default_rng(seed)
    test_ids = set(rng.choice(ids, size=len(ids) // 5, replace=False))
    mask = df[key].isin(test_ids)
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def load_table(dataset: str) -> tuple[pd.DataFrame, Path]:
    """A bundled dataset from data/, else a fixture from bench/fixtures/: the rows and the metadata's path."""
    folder = DATA if (DATA / f"{dataset}.csv").exists() else Path(__file__).parent / "fixtures"
    if not (folder / f"{dataset}.csv").exists():
        print(f"--dataset: no {dataset}.csv in data/ or bench/fixtures/", file=sys.stderr)
        raise SystemExit(2)
    return pd.read_csv(folder / f"{dataset}.csv"), folder / f"{dataset}.json"


DETECTION = False  # --detection: also the detection AUROC and the numerical columns' shapes


def score(train: pd.DataFrame, syn: pd.DataFrame, test: pd.DataFrame, meta, label: str, seed: int) -> dict:
    """The benchmark's evaluation of one synthetic table: quality against the training split and
    the mean AUROC on the real test split, trained on synthetic (TSTR) and on real (TRTR); with
    ``DETECTION``, the detection AUROC (real training rows against synthetic, 3-fold) and the
    lowest and mean column-shape score of the numerical columns."""
    q = quality(train, syn, meta)
    if DETECTION:
        from synth import Metadata
        from synth.eval.fidelity import detection, sdmetrics_reports

        m = Metadata.load(meta)
        shapes = sdmetrics_reports(train, syn, meta, diagnostic=False)["per_column"]
        numeric = [shapes[c] for c in shapes if m.sdtype(c) == "numerical"]
        q = {**q, "detection": detection(train, syn, meta, seed), "min_numeric_shape": min(numeric),
             "numeric_shape": float(np.mean(numeric)),
             "shapes": {c: round(shapes[c], 3) for c in shapes if m.sdtype(c) == "numerical"}}
    auc = tstr_auroc(train, syn, test, meta, label, seed=seed)
    tstr = float(np.mean([v["tstr"] for v in auc.values()]))
    trtr = float(np.mean([v["trtr"] for v in auc.values()]))
    return {**q, "auroc_tstr": tstr, "auroc_trtr": trtr, "ratio": tstr / trtr, "per_model": auc}


DETECTION_COLUMNS = [("detection AUROC", "detection"), ("numeric shape (mean)", "numeric_shape"),
                     ("numeric shape (min)", "min_numeric_shape")]
TABLE_COLUMNS = [("quality", "quality"), ("column shapes", "column_shapes"), ("pair trends", "column_pair_trends"),
                 ("AUROC TSTR", "auroc_tstr"), ("AUROC TRTR", "auroc_trtr"), ("ratio", "ratio")]


def noise_seed(base: int | None, seed: int) -> int | None:
    """The research-only noise seed of one run (None: secret noise from OS entropy)."""
    return None if base is None else base + seed


def run_one(df, meta, key, label, epsilon, seed, noise_base=None, **options):
    train, test = split_by_patient(df, key, seed)
    started = time.perf_counter()
    synth = Synthesizer(epsilon=epsilon, label=label, seed=seed, noise_seed=noise_seed(noise_base, seed),
                        **options).fit(train, meta)
    fit_s = time.perf_counter() - started
    syn = synth.sample(len(train), seed=seed)
    return {"epsilon": epsilon, "seed": seed, "spent": synth.ledger.epsilon(),
            **score(train, syn, test, meta, label, seed), "fit_s": fit_s}


def parse_options(pairs: list[str]) -> dict:
    """--set OPTION=VALUE pairs → keyword arguments (numbers with a dot or an e are floats)."""
    return {k: float(v) if "." in v or "e" in v else int(v) for k, v in (o.split("=", 1) for o in pairs)}


def print_per_model(res: pd.DataFrame, by: str = "epsilon") -> None:
    """Markdown table of each downstream model's AUROC on the real test split, trained on
    synthetic (TSTR), means over the seeds, one row per value of ``by``, then the same trained
    on real (TRTR): which model the ratio loses in."""
    models = list(res["per_model"].iloc[0])
    print("\n| " + by + " | " + " | ".join(f"{m} TSTR" for m in models) + " |\n|---|" + "---|" * len(models))
    for key, g in res.groupby(by, sort=False):
        print(f"| {key} | " + " | ".join(f"{np.mean([p[m]['tstr'] for p in g['per_model']]):.3f}" for m in models)
              + " |")
    print("| trained on real (TRTR) | " + " | ".join(f"{np.mean([p[m]['trtr'] for p in res['per_model']]):.3f}"
                                                 for m in models) + " |")


def print_table(res: pd.DataFrame, columns: list[tuple[str, str]], by: str = "epsilon") -> None:
    """Markdown table, one row per value of ``by`` (ε, or a method): ε spent, then mean ± sd of
    each (header, column), fit time."""
    print(f"| {'ε' if by == 'epsilon' else by} | ε spent | " + " | ".join(h for h, _ in columns) + " | fit s |")
    print("|---|---|" + "---|" * (len(columns) + 1))
    for key, g in res.groupby(by, sort=False):
        no_privacy = by == "epsilon" and math.isinf(key)
        spent = "∞ (no privacy)" if no_privacy else f"{g['spent'].max():.4f}"
        cells = " | ".join(f"{g[c].mean():.3f} ± {g[c].std(ddof=0):.3f}" for _, c in columns)
        print(f"| {'∞' if no_privacy else key} | {spent} | {cells} | {g['fit_s'].mean():.0f} |")


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
    global DETECTION
    DETECTION = args.detection
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
            more = (f" detection {row['detection']:.3f} numeric shapes {row['shapes']}" if DETECTION else "")
            print(f"  ε={eps} seed={seed}: quality {row['quality']:.3f} ratio {row['ratio']:.3f}{more} "
                  f"({row['fit_s']:.0f} s)", flush=True)
            rows.append(row)
    res = pd.DataFrame(rows)
    subset = f" ({args.patients} patients)" if args.patients else ""
    print(f"\n{args.dataset}{subset}, label {args.label}, 80/20 split by patient, {args.seeds} seeds (mean ± sd)"
          f"{', options ' + str(options) if options else ''}\n")
    print_table(res, TABLE_COLUMNS + (DETECTION_COLUMNS if DETECTION else []))
    print_per_model(res)


if __name__ == "__main__":
    main()
