"""Canary audit: can anyone tell, from a fit's released output, whether one patient was in?

    OMP_NUM_THREADS=1 python bench/audit.py [--trials 100] [--epsilon 1] [--patients 40]
                                            [--variants shipped,known-seed,no-noise] [--quick]

A small trial table (``--patients`` patients, public metadata) and one canary patient that is
extreme in every column: the oldest age the protocol allows, a marker value nobody else has,
the rarer arm. Each trial fits once, with the canary in or out (alternating), and guesses "in"
from what the fit releases:

- ``label count``: the released count of the canary's arm (stored in the model file), against
  the attacker's known count without the canary;
- ``synthetic rows``: the share of 2,000 sampled rows that carry the canary's marker.

For each score the guesses give an ε lower bound with Clopper–Pearson intervals
(:mod:`synth.privacy.audit`; α = 5% shared over the scores). The variants:

- ``shipped``: the code as users run it (noise from OS entropy). Its ε̂ must stay ≤ ε.
- ``known-seed``: the noise seeded with a seed the attacker knows (what ``--seed`` did before
  the noise became secret, when the seed sat in the model file). The attacker refits the table
  without the canary under the same seed and subtracts: the audit must see this leak.
- ``no-noise``: ε = ∞, a mechanism with no guarantee at all; the audit must see it too.

Without ``--quick`` each fit makes every release a default fit makes (N, label counts, label and
pair tables, DP-SGD) with fewer training steps (5 epochs, 300 pretraining steps), so that
hundreds of fits take minutes. ``--quick`` is the default test suite's version: no marginal
tables and one DP-SGD epoch at q = 1, a fraction of a second a fit; only the label count is
scored. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import pandas as pd

from synth import Synthesizer
from synth.privacy.audit import AuditResult, epsilon_lower_bound

MARKER = "extreme"
META = {"METADATA_SPEC_VERSION": "V1", "tables": {"audit": {"primary_key": "pid", "columns": {
    "pid": {"sdtype": "id"},
    "age": {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 18, "range_max": 90,
            "range_is_nullable": False},
    "marker": {"sdtype": "categorical", "range_values": ["low", "high", MARKER], "range_is_nullable": False},
    "arm": {"sdtype": "categorical", "range_values": ["drug", "placebo"], "range_is_nullable": False},
}}}}
QUICK = dict(epochs=1, marginal_weight=0, g_hidden=16, d_hidden=16, noise_dim=4, batch_size=1000)  # q = 1
FULL = dict(g_hidden=32, d_hidden=32, noise_dim=8, epochs=5, pretrain_steps=300)  # every release of a default
# fit (N, label counts, label and pair tables, DP-SGD), fewer steps: the audit needs hundreds of fits
VARIANTS = ("shipped", "known-seed", "no-noise")


def tables(patients: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the table without the canary, the same with it). Fixed: the attacker knows every other patient."""
    rng = np.random.default_rng(12345)
    base = pd.DataFrame({"pid": np.arange(patients), "age": rng.integers(30, 61, patients),
                         "marker": rng.choice(["low", "high"], patients),
                         "arm": np.where(np.arange(patients) < patients * 0.6, "placebo", "drug")})
    canary = pd.DataFrame({"pid": [patients], "age": [90], "marker": [MARKER], "arm": ["drug"]})
    return base, pd.concat([base, canary], ignore_index=True)


def fit(data: pd.DataFrame, variant: str, epsilon: float, trial: int, quick: bool) -> Synthesizer:
    options = QUICK if quick else FULL
    eps = math.inf if variant == "no-noise" else epsilon
    noise_seed = trial if variant == "known-seed" else None  # the attacker knows it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epsilon=eps, label="arm", seed=trial, noise_seed=noise_seed, **options).fit(data, META)


def drug_count(s: Synthesizer) -> float:
    """The released (noisy) count of the canary's arm, as the model file stores it."""
    return float(s.domain.label_counts[s.domain.label.categories.index("drug")])


def audit(variant: str, trials: int, epsilon: float, patients: int, quick: bool,
          alpha: float = 0.05) -> dict[str, AuditResult]:
    """Fit ``trials`` times, the canary in on every other trial, and bound ε from each score's guesses."""
    without, with_canary = tables(patients)
    known = float((without["arm"] == "drug").sum())
    scores: dict[str, list[tuple[bool, bool]]] = {"label count": []}
    if not quick:
        scores["synthetic rows"] = []
    for trial in range(trials):
        inside = trial % 2 == 0
        s = fit(with_canary if inside else without, variant, epsilon, trial, quick)
        count = drug_count(s)
        if variant == "known-seed":  # replay the noise: the same fit without the canary, same seed
            count -= drug_count(fit(without, variant, epsilon, trial, quick)) - known
        scores["label count"].append((inside, count > known + 0.5))
        if not quick:
            share = float((s.sample(2000, seed=trial)["marker"] == MARKER).mean())
            scores["synthetic rows"].append((inside, share > 0.5 / (patients + 1)))
    delta = 1e-5
    out = {}
    for name, guesses in scores.items():
        tp = sum(1 for inside, guess in guesses if inside and guess)
        fp = sum(1 for inside, guess in guesses if not inside and guess)
        positives = sum(1 for inside, _ in guesses if inside)
        out[name] = epsilon_lower_bound(tp, positives, fp, len(guesses) - positives, delta, alpha / len(scores))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="the test suite's version: label count only")
    args = parser.parse_args()
    variants = args.variants.split(",")
    if args.trials < 2 or args.patients < 10 or not set(variants) <= set(VARIANTS):
        parser.error(f"--trials >= 2, --patients >= 10, --variants from {', '.join(VARIANTS)}")
    print(f"canary audit: {args.patients} patients + 1 canary, claimed ε = {args.epsilon}, δ = 1e-5, "
          f"{args.trials} fits per variant{' (quick)' if args.quick else ''}\n")
    print("| variant | score | TP / in | FP / out | ε lower bound (95%) | claim | s per fit |")
    print("|---|---|---|---|---|---|---|")
    for variant in variants:
        started = time.perf_counter()
        results = audit(variant, args.trials, args.epsilon, args.patients, args.quick)
        per_fit = (time.perf_counter() - started) / args.trials
        claim = "none (ε = ∞)" if variant == "no-noise" else f"{args.epsilon:g}"
        for name, r in results.items():
            print(f"| {variant} | {name} | {r.true_positives}/{r.positives} | {r.false_positives}/{r.negatives} | "
                  f"{r.epsilon_lower:.2f} | {claim} | {per_fit:.1f} |", flush=True)


if __name__ == "__main__":
    main()
