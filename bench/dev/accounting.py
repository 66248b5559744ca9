"""Accounting benchmark: what a privacy-loss-distribution (PLD) accountant would give the shipped ledgers.

    python -m bench.dev.accounting [--datasets actg175,gbsg2,pbcseq] [--epsilon 1]

synth composes its ledger with Opacus' RDP accountant (``synth.privacy.accountant``). A PLD
accountant is tighter for Gaussian mechanisms, but it needs a pair of distributions that
dominates each mechanism, and pair selection is an exponential mechanism (ε0-DP per round,
recorded in the ledger as the Gaussian with the same Rényi curve, which is sound under RDP only).
Randomized response with ε0 dominates every ε0-DP mechanism; tighter pairs for bounded-range
mechanisms are not a single pair and neither accountant offers them.

For each benchmark table: the ledger of a fit on the benchmark's 80% split (seed 0; the
DP-SGD entry re-calibrated for the default step count, as ``train_acgan`` does, so no training
is run), then ε at the ledger's δ from
- Opacus RDP, as shipped;
- Google's dp_accounting PLD with selection read as that Gaussian (not sound: a reference) and
  Opacus' PRV accountant on the same history, as an independent cross-check of it;
- PLD with selection dominated by ε0-randomized response (sound);
- PLD of the ledger without selection (what selection costs under PLD);
and the factor on every σ at which the sound PLD ledger spends the target ε (below 1: a PLD
accountant would allow less noise; above 1: more). Needs the dev extra (dp-accounting).
"""

from __future__ import annotations

import argparse
import math
import warnings

from dp_accounting.pld import common, privacy_loss_distribution as pld
from opacus.accountants import PRVAccountant

from synth import Metadata, Synthesizer
from synth.privacy.ledger import Ledger, calibrate_sigma
from synth.models.train import REGIMES
from bench.common import load_table, split_by_patient

LABELS = {"actg175": "cens", "gbsg2": "cens", "pbcseq": "status"}
INTERVAL = 1e-4  # PLD discretisation of the privacy loss (pessimistic rounding)


def shipped_ledger(dataset: str, epsilon: float) -> Ledger:
    """The ledger a default fit on the benchmark split (seed 0) would hold, without training it."""
    df, meta_path = load_table(dataset)
    meta = Metadata.load(meta_path)
    train, _ = split_by_patient(df, meta.sequence_key or meta.primary_key, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = Synthesizer(epsilon=epsilon, label=LABELS[dataset], seed=0, epochs=1, pretrain_steps=0,
                             select_checkpoint=0, g_hidden=16, d_hidden=16, noise_dim=8).fit(train, meta)
    ledger = fitted.ledger
    sgd = ledger.mechanisms.pop()
    assert sgd.name.startswith("dp_sgd"), sgd.name
    steps = math.ceil(REGIMES["dp"]["steps"] / sgd.steps) * sgd.steps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sgd.noise_multiplier = calibrate_sigma(ledger.target_epsilon, ledger.accountant_delta, sgd.sample_rate,
                                               steps, prior=ledger.history())
    sgd.steps = steps
    ledger.add(sgd)
    return ledger


def pld_epsilon(ledger: Ledger, selection: str, scale: float = 1.0) -> float:
    """ε of the ledger (every σ times ``scale``) under a PLD accountant; ``selection`` is
    "gaussian" (the RDP stand-in), "rr" (ε0-randomized response) or "none" (left out)."""
    total = None
    for m in ledger.mechanisms:
        sigma = m.noise_multiplier * scale
        if m.name.startswith("selection"):
            if selection == "none":
                continue
            if selection == "rr":
                one = pld.from_privacy_parameters(common.DifferentialPrivacyParameters(2.0 / sigma, 0.0),
                                                  value_discretization_interval=INTERVAL)
                part = one.self_compose(m.steps)
                total = part if total is None else total.compose(part)
                continue
        one = pld.from_gaussian_mechanism(sigma, sampling_prob=m.sample_rate, use_connect_dots=True,
                                          value_discretization_interval=INTERVAL)
        part = one.self_compose(m.steps) if m.steps > 1 else one
        total = part if total is None else total.compose(part)
    return float(total.get_epsilon_for_delta(ledger.accountant_delta))


def prv_epsilon(ledger: Ledger) -> float:
    """Opacus' PRV accountant on the ledger's history (selection read as the Gaussian)."""
    accountant = PRVAccountant()
    accountant.history = ledger.history()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=ledger.accountant_delta))


def sigma_factor(ledger: Ledger, selection: str, target: float, tol: float = 1e-3) -> float:
    """The factor on every σ at which the PLD ledger spends ``target`` (bisection)."""
    lo, hi = 0.5, 2.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pld_epsilon(ledger, selection, mid) > target else (lo, mid)
    return hi


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="actg175,gbsg2,pbcseq")
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()
    datasets = args.datasets.split(",")
    unknown = [d for d in datasets if d not in LABELS]
    if unknown:
        parser.error(f"--datasets must be among {', '.join(LABELS)}, got {', '.join(unknown)}")
    if not 0 < args.epsilon < math.inf:
        parser.error(f"--epsilon must be finite and positive, got {args.epsilon}")
    print("| table | N | δ | selection rounds | RDP (shipped) | PLD, selection as Gaussian | Opacus PRV, same "
          "| PLD, selection as RR | PLD, no selection | σ factor, PLD with RR | σ factor, PLD as Gaussian |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in datasets:
        ledger = shipped_ledger(dataset, args.epsilon)
        rounds = sum(m.steps for m in ledger.mechanisms if m.name.startswith("selection"))
        figures = [ledger.epsilon(), pld_epsilon(ledger, "gaussian"), prv_epsilon(ledger),
                   pld_epsilon(ledger, "rr"), pld_epsilon(ledger, "none")]
        factors = [sigma_factor(ledger, "rr", args.epsilon), sigma_factor(ledger, "gaussian", args.epsilon)]
        print(f"| {dataset} | {ledger.n_patients} | {ledger.accountant_delta:.2g} | {rounds} | "
              + " | ".join(f"{x:.3f}" for x in figures + factors) + " |")


if __name__ == "__main__":
    main()
