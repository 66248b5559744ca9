"""The statistics of an empirical privacy audit: an ε lower bound from membership guesses.

A canary audit (Jagielski et al. 2020; Nasr et al. 2021) fits many times on a table with and
without one canary patient and guesses, from each fit's released output alone, whether the
canary was in. Any (ε, δ)-DP mechanism bounds every such test:

    TPR ≤ e^ε · FPR + δ    and    TNR ≤ e^ε · FNR + δ,

so with Clopper–Pearson intervals on the observed rates, ε̂ = max(log((TPR_lo − δ) / FPR_hi),
log((TNR_lo − δ) / FNR_hi)) is a lower bound on the true ε at the stated confidence. An audit
whose ε̂ exceeds the claimed ε has found a leak; one that stays below has not (it is a lower
bound, not a proof of privacy).

Nothing here reads real data: it takes counts of correct and wrong guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import beta

__all__ = ["AuditResult", "clopper_pearson", "epsilon_lower_bound"]


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
