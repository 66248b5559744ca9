"""Canary audit: can anyone tell, from a fit's released output, whether one patient was in?

    OMP_NUM_THREADS=1 python -m bench.dev.audit [--trials 100] [--epsilon 1] [--patients 40]
        [--variants shipped,known-seed,no-noise,dp-sgd] [--quick]
        [--canaries 1000] [--guesses 100] [--controls 8,16,inf]

Two audits. Each prints its ε lower bound ε̂ beside its *ceiling*, the ε̂ it would report were
every guess right: the most it can show (an ε̂ below the claim says little if the ceiling is too).

**Trials** (``shipped``, ``known-seed``, ``no-noise``): a small trial table (``--patients``
patients, public metadata) and one canary patient that is extreme in every column: the oldest
age the protocol allows, a marker value nobody else has, the rarer arm. Each trial fits once,
with the canary in or out (alternating), and guesses "in" from what the fit releases:

- ``label count``: the released count of the canary's arm (stored in the model file), against
  the attacker's known count without the canary;
- ``synthetic rows``: the share of 2,000 sampled rows that carry the canary's marker.

For each score the guesses give an ε lower bound with Clopper–Pearson intervals
(:mod:`synth.privacy.audit`; α = 5% shared over the scores). T trials cap it: every guess
right gives 2.39 at T = 100 with one score, 2.24 with two.

- ``shipped``: the code as users run it (noise from OS entropy). Its ε̂ must stay ≤ ε.
- ``known-seed``: the noise seeded with a seed the attacker knows (what ``--seed`` did before
  the noise became secret, when the seed sat in the model file). The attacker refits the table
  without the canary under the same seed and subtracts: the audit must see this leak.
- ``no-noise``: ε = ∞, a mechanism with no guarantee at all; the audit must see it too.

Without ``--quick`` each fit makes every release a default fit makes (N, label counts, label and
pair tables, DP-SGD) with fewer training steps (5 epochs, 300 pretraining steps), so that
hundreds of fits take minutes. ``--quick`` is the default test suite's version: no marginal
tables and one DP-SGD epoch at q = 1, a fraction of a second a fit; only the label count is
scored. These scores cannot see DP-SGD, a few percent of ε in a default fit.

**One run** (``dp-sgd``, :mod:`audit_dp_sgd`): DP-SGD alone, audited in one fit (Steinke, Nasr
and Jagielski 2023). Every domain and N are public and there is no label and no table, so the
ledger holds DP-SGD alone (checked). Threat model: a white-box adversary who knows every other
patient and sees every noisy clipped-gradient sum the DP-SGD step releases, with the
discriminator's parameters at that step: what DP-SGD's guarantee covers, so the strongest valid
audit. ``--canaries`` canaries, each with values of its own, are each in with probability 1/2;
each is scored by the likelihood ratio of its clipped gradient in the noisy sums on the
coordinates only it touches; the top ``--guesses``/2 are guessed in, the bottom ones out, and
Steinke et al.'s theorem turns the right guesses into ε̂ (ceiling 3.47 at 1,000 canaries and 100
guesses). The claim is ``--epsilon``; the positive controls (``--controls``) are the same audit
with σ calibrated for larger ε, where ε̂ must rise above 1, and at ε = ∞ (no noise, no clipping),
where every guess should be right.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import pandas as pd

from bench.dev import audit_dp_sgd  # noqa: F401 - the tests reach it as this module's audit_dp_sgd
from bench.dev.audit_dp_sgd import OneRun, one_run
from synth import Synthesizer
from synth.privacy.audit import AuditResult, epsilon_lower_bound, trials_ceiling

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
VARIANTS = ("shipped", "known-seed", "no-noise", "dp-sgd")
TRIAL_VARIANTS = VARIANTS[:3]
DELTA = 1e-5


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
    delta = DELTA
    out = {}
    for name, guesses in scores.items():
        tp = sum(1 for inside, guess in guesses if inside and guess)
        fp = sum(1 for inside, guess in guesses if not inside and guess)
        positives = sum(1 for inside, _ in guesses if inside)
        out[name] = epsilon_lower_bound(tp, positives, fp, len(guesses) - positives, delta, alpha / len(scores))
    return out


def print_trials(variants: list[str], args: argparse.Namespace) -> None:
    """The trial audits' table."""
    print(f"canary audit: {args.patients} patients + 1 canary, claimed ε = {args.epsilon}, δ = {DELTA:g}, "
          f"{args.trials} fits per variant{' (quick)' if args.quick else ''}\n")
    print("| variant | score | TP / in | FP / out | ε lower bound (95%) | ceiling | claim | s per fit |")
    print("|---|---|---|---|---|---|---|---|")
    for variant in variants:
        started = time.perf_counter()
        results = audit(variant, args.trials, args.epsilon, args.patients, args.quick)
        per_fit = (time.perf_counter() - started) / args.trials
        claim = "none (ε = ∞)" if variant == "no-noise" else f"{args.epsilon:g}"
        ceiling = trials_ceiling(args.trials, DELTA, 0.05 / len(results))
        for name, r in results.items():
            print(f"| {variant} | {name} | {r.true_positives}/{r.positives} | {r.false_positives}/{r.negatives} | "
                  f"{r.epsilon_lower:.2f} | {ceiling:.2f} | {claim} | {per_fit:.1f} |", flush=True)


def one_run_row(run: OneRun, claim: float) -> str:
    r = run.result
    label = "∞" if math.isinf(run.epsilon) else f"{run.epsilon:g}"
    if run.epsilon != claim:
        label += " (control: no noise)" if math.isinf(run.epsilon) else " (control)"
    return (f"| {label} | {run.sigma:.3g} | {run.sample_rate:g} | {run.steps} | {run.included}/{r.canaries} | "
            f"{r.correct}/{r.guesses} | {r.epsilon_lower:.2f} | {r.ceiling:.2f} | {run.seconds:.0f} |")


def print_one_run(args: argparse.Namespace, controls: list[float]) -> None:
    """The DP-SGD one-run audit's table: the claim, then the positive controls."""
    print(f"\nDP-SGD alone, one run per row (Steinke et al. 2023): {args.canaries} canaries, each in with "
          f"probability 1/2; guesses: the top {args.guesses // 2} scores in, the bottom {args.guesses // 2} out; "
          "95% confidence. Threat model: white-box, every noisy clipped-gradient sum the DP-SGD step releases.\n")
    print("| ε (fit) | σ | q | steps | canaries in | right / guesses | ε lower bound (95%) | ceiling | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for eps in [args.epsilon, *controls]:
        print(one_run_row(one_run(eps, args.canaries, args.guesses), args.epsilon), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="the test suite's version: label count only")
    parser.add_argument("--canaries", type=int, default=1000, help="dp-sgd: canaries in the one run")
    parser.add_argument("--guesses", type=int, default=100, help="dp-sgd: guesses (half in, half out)")
    parser.add_argument("--controls", default="8,16,inf", help="dp-sgd: ε of the positive controls")
    args = parser.parse_args()
    variants = args.variants.split(",")
    controls = [float(e) for e in args.controls.split(",") if e]
    if args.trials < 2 or args.patients < 10 or not set(variants) <= set(VARIANTS):
        parser.error(f"--trials >= 2, --patients >= 10, --variants from {', '.join(VARIANTS)}")
    if not 2 <= args.guesses <= args.canaries or args.guesses % 2:
        parser.error("--guesses: an even number from 2 to --canaries")
    trials = [v for v in variants if v in TRIAL_VARIANTS]
    if trials:
        print_trials(trials, args)
    if "dp-sgd" in variants:
        print_one_run(args, controls)


if __name__ == "__main__":
    main()
