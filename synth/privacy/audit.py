"""The statistics of an empirical privacy audit: an ε lower bound from membership guesses.

A canary audit (Jagielski et al. 2020; Nasr et al. 2021) fits many times on a table with and
without one canary patient and guesses, from each fit's released output alone, whether the
canary was in. Any (ε, δ)-DP mechanism bounds every such test:

    TPR ≤ e^ε · FPR + δ    and    TNR ≤ e^ε · FNR + δ,

so with Clopper–Pearson intervals on the observed rates, ε̂ = max(log((TPR_lo − δ) / FPR_hi),
log((TNR_lo − δ) / FNR_hi)) is a lower bound on the true ε at the stated confidence. An audit
whose ε̂ exceeds the claimed ε has found a leak; one that stays below has not (it is a lower
bound, not a proof of privacy).

One fit can audit many canaries at once (Steinke, Nasr and Jagielski 2023): each of m canaries is
in with probability 1/2, the auditor guesses for r of them and gets v right, and
:func:`one_run_bound` turns (m, r, v) into ε̂ with their Theorem 5.2. Each audit's *ceiling*
(:func:`trials_ceiling`, ``OneRunResult.ceiling``) is the ε̂ it would report were every guess
right: the most it can show, so an ε̂ below the claim means something only if the ceiling is above.

Nothing here reads real data: it takes counts of correct and wrong guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, binom

__all__ = ["AuditResult", "OneRunResult", "clopper_pearson", "epsilon_lower_bound", "one_run_bound",
           "one_run_epsilon", "one_run_p_value", "trials_ceiling"]


def clopper_pearson(successes: int, trials: int, alpha: float) -> tuple[float, float]:
    """Two-sided 1 − α Clopper–Pearson interval of a binomial proportion."""
    if trials <= 0:
        return 0.0, 1.0
    lo = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    hi = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    return lo, hi


@dataclass(frozen=True)
class AuditResult:
    """Guesses on fits with the canary (``positives``) and without (``negatives``)."""

    true_positives: int
    positives: int
    false_positives: int
    negatives: int
    epsilon_lower: float
    alpha: float

    def line(self) -> str:
        return (f"TPR {self.true_positives}/{self.positives}, FPR {self.false_positives}/{self.negatives}: "
                f"ε ≥ {self.epsilon_lower:.3f} at {1 - self.alpha:.0%} confidence")


def epsilon_lower_bound(true_positives: int, positives: int, false_positives: int, negatives: int,
                        delta: float, alpha: float = 0.05) -> AuditResult:
    """ε̂: the largest ε the guesses rule out at confidence 1 − α (0 when they rule out none).

    α is split over the two rates (Bonferroni), so both intervals hold together with
    probability at least 1 − α.
    """
    tpr_lo, tpr_hi = clopper_pearson(true_positives, positives, alpha / 2)
    fpr_lo, fpr_hi = clopper_pearson(false_positives, negatives, alpha / 2)
    bounds = [0.0]
    for hit_lo, miss_hi in ((tpr_lo, fpr_hi), (1 - fpr_hi, 1 - tpr_lo)):
        # TPR_lo ≤ e^ε FPR_hi + δ, and TNR_lo = 1 − FPR_hi ≤ e^ε FNR_hi + δ with FNR_hi = 1 − TPR_lo
        if hit_lo - delta > 0 and miss_hi > 0:
            bounds.append(math.log((hit_lo - delta) / miss_hi))
    return AuditResult(true_positives, positives, false_positives, negatives, max(bounds), alpha)


# ---------------------------------------------------------------- one run, many canaries
# Steinke, Nasr and Jagielski (2023), "Privacy auditing with one (1) training run": m canaries,
# each included independently with probability 1/2; from one fit's output the auditor guesses
# "in" or "out" for r of them (abstaining on the rest) and gets v right. Their Theorem 5.2:
# under (ε, δ)-DP, with f(v) = P[Binomial(r, e^ε / (1 + e^ε)) ≥ v],
#
#     P[v or more right] ≤ f(v) + 2mδ · max_{1 ≤ i ≤ v} (f(v − i) − f(v)) / i,
#
# a p-value for the hypothesis "the fit is (ε, δ)-DP". ε̂ is the ε at which it reaches α: every
# smaller ε is rejected at confidence 1 − α. At δ = 0 it is ε-randomized response's binomial tail.


def one_run_p_value(canaries: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """P[``correct`` or more of ``guesses`` right] bounded under (ε, δ)-DP (Theorem 5.2)."""
    if not 0 <= correct <= guesses <= canaries:
        raise ValueError(f"need 0 <= correct <= guesses <= canaries, got {correct}, {guesses}, {canaries}")
    if epsilon < 0 or not 0 <= delta <= 1:
        raise ValueError(f"need epsilon >= 0 and 0 <= delta <= 1, got {epsilon}, {delta}")
    p_right = 1.0 / (1.0 + math.exp(-epsilon)) if epsilon < 700 else 1.0
    tail = float(binom.sf(correct - 1, guesses, p_right))  # f(v)
    spread = 0.0
    if correct and delta:
        # f(v − i) − f(v) = P[v − i ≤ B < v]: the masses at v − 1, v − 2, …, 0 summed
        below = np.cumsum(binom.pmf(np.arange(correct - 1, -1, -1), guesses, p_right))
        spread = float(np.max(below / np.arange(1, correct + 1)))
    return min(1.0, tail + 2 * canaries * delta * spread)


def one_run_epsilon(canaries: int, guesses: int, correct: int, delta: float, alpha: float = 0.05) -> float:
    """ε̂: the largest ε that ``correct`` right out of ``guesses`` rejects at confidence 1 − α
    (0 when they reject none), by bisection to 1e-6 (the p-value grows with ε)."""
    def rejected(eps: float) -> bool:
        return one_run_p_value(canaries, guesses, correct, eps, delta) <= alpha

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not rejected(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while rejected(hi):  # ends: as ε grows, f(v) → 1 > α
        lo, hi = hi, 2 * hi
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rejected(mid) else (lo, mid)
    return lo


@dataclass(frozen=True)
class OneRunResult:
    """One fit's guesses on ``canaries`` canaries: ``correct`` of ``guesses`` right."""

    canaries: int
    guesses: int
    correct: int
    epsilon_lower: float
    ceiling: float  # ε̂ had every guess been right: the most this audit can show
    alpha: float

    def line(self) -> str:
        return (f"{self.correct}/{self.guesses} guesses right on {self.canaries} canaries: ε ≥ "
                f"{self.epsilon_lower:.3f} at {1 - self.alpha:.0%} confidence (ceiling {self.ceiling:.2f})")


def one_run_bound(canaries: int, guesses: int, correct: int, delta: float, alpha: float = 0.05) -> OneRunResult:
    """ε̂ of one run's guesses, with the ceiling the same number of guesses could reach."""
    return OneRunResult(canaries, guesses, correct, one_run_epsilon(canaries, guesses, correct, delta, alpha),
                        one_run_epsilon(canaries, guesses, guesses, delta, alpha), alpha)


def trials_ceiling(trials: int, delta: float, alpha: float = 0.05) -> float:
    """The most :func:`epsilon_lower_bound` can report from ``trials`` fits, half with the canary:
    every guess right."""
    positives = trials - trials // 2
    return epsilon_lower_bound(positives, positives, 0, trials // 2, delta, alpha).epsilon_lower
