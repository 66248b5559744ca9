"""What the benchmarks share: the bundled tables and fixtures, the split by patient, the score of
one synthetic table (quality, TSTR/TRTR AUROC; on visit sequences, per-patient features) and the
markdown tables they print. Run a benchmark from the repository root: ``python -m bench.<name>``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from synth import Metadata
from synth.eval import quality, tstr_auroc
from synth.eval.features import category_strings
from synth.eval.sequences import patient_metadata
from synth.eval.utility import BENCH_MODELS, downstream

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


def score_patients(f_train: pd.DataFrame, f_syn: pd.DataFrame, f_test: pd.DataFrame, meta: Metadata, label: str,
                   seed: int) -> dict:
    """The benchmark's downstream figure on per-patient features (``patient_features``): mean
    one-vs-rest AUROC of LR/RF/GB on the real test patients, trained on synthetic (TSTR) and on
    real (TRTR), their ratio, and each class's own AUROC."""
    auc = downstream(f_train, f_syn, f_test, patient_metadata(f_train, meta), label, seed, BENCH_MODELS)
    tstr, trtr = auc["tstr_auroc"], auc["trtr_auroc"]
    return {"auroc_tstr": tstr, "auroc_trtr": trtr, "ratio": tstr / trtr, "per_class": auc["per_class"],
            **{f"n_test_{c}": int((category_strings(f_test[label]) == c).sum()) for c in auc["per_class"]}}
