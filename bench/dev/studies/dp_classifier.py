"""Diagnostic: a DP classifier that spends all of ε on the pbcseq label (RESULTS item 56).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.dp_classifier [--seeds 6] [--epochs 10 --batch-size 125 --lr 1]

How well can anything released at ε = 1 rank the real test patients' `status`? For each
split of `bench/sequences.py` (80/20 by patient), a multinomial logistic regression is trained
with Opacus DP-SGD on the per-patient features (first/last/mean of each lab, static columns,
visit count; slopes left out), scaled by the metadata's public ranges only, and scored as the
benchmark scores its models: one-vs-rest macro AUROC on the real test patients. The same
regression trained without privacy is the reference. Three DP runs per split and ε are
averaged. This is not a synthesizer; it bounds what a synthesizer's label relation could carry
if the whole budget went to the label.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
import torch
from opacus import PrivacyEngine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bench.common import DATA, split_by_patient
from synth.eval.sequences import patient_features
from synth.schema.metadata import Metadata
LABEL = "status"


def public_features(f: pd.DataFrame, meta: Metadata) -> np.ndarray:
    """Features in [0, 1] from public ranges alone (log scale where the metadata says so); a
    missing value is 0.5 plus an indicator; categoricals one-hot over their public values."""
    out = {"n_visits": f["n_visits"] / meta.extra["synth_sequence"]["max_visits"]}  # public in pbcseq.json
    for c in f.columns:
        base = c if c in meta.columns else c.rsplit("_", 1)[0]
        if c in (LABEL, "n_visits") or c.endswith("_slope") or base == meta.sequence_index:
            continue
        spec = meta.columns[base]
        if spec["sdtype"] == "numerical":
            lo, hi = spec["range_min"], spec["range_max"]
            x = pd.to_numeric(f[c], errors="coerce").astype(float).clip(lo, hi)
            log = spec.get("synth_scale") == "log"
            u = (np.log(x) - np.log(lo)) / (np.log(hi) - np.log(lo)) if log else (x - lo) / (hi - lo)
            out[c], out[f"{c}_missing"] = u.fillna(0.5), x.isna().astype(float)
        else:
            for v in spec.get("range_values", []):
                out[f"{c}={v}"] = (f[c].astype(str) == str(v)).astype(float)
    return pd.DataFrame(out).to_numpy(dtype=np.float32)


def dp_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, epsilon: float, delta: float, seed: int,
                epochs: int, batch_size: int, lr: float):
    """A linear softmax model trained with DP-SGD (clipping norm 1, Poisson batches, RDP)."""
    torch.manual_seed(seed)
    linear = torch.nn.Linear(x.shape[1], n_classes)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                       batch_size=batch_size)
    model, opt, data = PrivacyEngine(accountant="rdp").make_private_with_epsilon(
        module=linear, optimizer=torch.optim.SGD(linear.parameters(), lr=lr), data_loader=data,
        target_epsilon=epsilon, target_delta=delta, epochs=epochs, max_grad_norm=1.0)
    for _ in range(epochs):
        for xb, yb in data:
            if len(xb):  # Poisson sampling can give an empty batch
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xb), yb).backward()
                opt.step()
    return lambda z: torch.softmax(linear(torch.tensor(z)), 1).detach().numpy()  # the trained weights, no hooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=125)
    parser.add_argument("--lr", type=float, default=1.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="opacus")
    warnings.filterwarnings("ignore", message="Full backward hook")  # a linear model's inputs need no gradient
    meta, df = Metadata.load(DATA / "pbcseq.json"), pd.read_csv(DATA / "pbcseq.csv")
    rows = []
    for seed in range(args.seeds):
        train, test = split_by_patient(df, meta.sequence_key, seed)
        f_train, f_test = patient_features(train, meta), patient_features(test, meta)
        x_train, x_test = public_features(f_train, meta), public_features(f_test, meta)
        y_train, y_test = (f[LABEL].astype(int).to_numpy() for f in (f_train, f_test))
        real = roc_auc_score(y_test, LogisticRegression(max_iter=2000).fit(x_train, y_train).predict_proba(x_test),
                             multi_class="ovr")
        row = {"seed": seed, "real": real}
        for eps in (1.0, 0.5):
            row[eps] = np.mean([roc_auc_score(y_test, dp_logistic(x_train, y_train, 3, eps, 1e-5, 10 * seed + r,
                                                                  args.epochs, args.batch_size, args.lr)(x_test),
                                              multi_class="ovr") for r in range(3)])
        print(f"  seed={seed}: real LR {real:.3f}, DP LR ε=1 {row[1.0]:.3f} ({row[1.0] / real:.3f}), "
              f"ε=0.5 {row[0.5]:.3f} ({row[0.5] / real:.3f})", flush=True)
        rows.append(row)
    res = pd.DataFrame(rows)
    print("\n| ε | AUROC, DP LR | AUROC, LR without privacy | ratio |\n|---|---|---|---|")
    for eps in (1.0, 0.5):
        ratio = res[eps] / res["real"]
        print(f"| {eps} | {res[eps].mean():.3f} | {res['real'].mean():.3f} | "
              f"{ratio.mean():.3f} ± {ratio.std(ddof=0):.3f} |")


if __name__ == "__main__":
    main()
