"""The accountant: the one place that turns mechanisms into (ε, δ).

RDP composition over the orders ``ALPHAS``, the ε curve of a DP-SGD run, σ calibration and the
construction of Opacus' ``RDPAccountant`` that watches the discriminator's optimizer all live
here; the ledger (:mod:`synth.privacy.ledger`) keeps the history, and training only asks.

Every mechanism in synth is recorded **by kind** (:data:`KINDS`) in accountant units (noise
multiplier σ, sample rate q, steps) for a query of L2 sensitivity 1 per patient:

- ``gaussian``: the Gaussian mechanism (q = 1): counts, tables, sums, the domain's estimates;
- ``subsampled_gaussian``: Poisson-subsampled Gaussian steps (q < 1): DP-SGD;
- ``exponential_as_gaussian``: an exponential mechanism (pair selection,
  :mod:`synth.release.pair_tables`) whose ε0-bounded range gives ε0²/8-zCDP, entered as the
  Gaussian with the same Rényi curve.

Notes
-----
One accountant is implemented: Opacus' **RDP** accountant, for **add/remove-one-patient**
adjacency (``ADJACENCY``); :class:`Accountant` refuses any other method or adjacency, and any
kind it does not know. The substitution of the exponential mechanism by a Gaussian is sound for
an RDP accountant only: an accountant of privacy-loss distributions (Opacus' PRV, a PLD) needs a
pair of distributions that dominates the mechanism, and the Gaussian need not dominate an
exponential mechanism, so switching the accountant would void the guarantee unless selection
changes too. (Bounding selection soundly by ε0-randomized response instead makes a PLD
accountant need about 10% more σ than RDP on the benchmark ledgers, ``bench/dev/accounting.py``.)

The guarantee is void if a mechanism is composed under a kind it is not, if a DP-SGD step runs
that the Opacus accountant built here did not see, or if σ is taken smaller than
:func:`calibrate_sigma` returns for the steps actually run.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from synth.errors import SynthError

__all__ = ["Accountant", "ACCOUNTANT", "ADJACENCY", "ALPHAS", "KINDS", "GAUSSIAN", "SUBSAMPLED_GAUSSIAN",
           "EXPONENTIAL_AS_GAUSSIAN", "EpsilonCurve", "calibrate_sigma", "compose_epsilon", "kind_of"]

ACCOUNTANT = "rdp"
ADJACENCY = "add/remove one patient"

GAUSSIAN = "gaussian"
SUBSAMPLED_GAUSSIAN = "subsampled_gaussian"
EXPONENTIAL_AS_GAUSSIAN = "exponential_as_gaussian"
KINDS = (GAUSSIAN, SUBSAMPLED_GAUSSIAN, EXPONENTIAL_AS_GAUSSIAN)
SELECTION_PREFIX = "selection:"  # the ledger's name of an exponential mechanism (pair selection)

# The kinds each accountant method can compose soundly (only RDP is implemented).
SUPPORTED = {ACCOUNTANT: frozenset(KINDS)}

# Opacus' default orders stop at 63, which cannot certify ε below about log(1/δ)/62; small
# shares of the budget (preprocessing) need higher orders.
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [
    int(64 * 1.3**k) for k in range(1, 16)]

History = list[tuple[float, float, int]]


def kind_of(name: str, sample_rate: float) -> str:
    """The kind of a ledger entry that does not say it (model files store no kind): pair
    selection by its name, DP-SGD by its sample rate, everything else a Gaussian."""
    if name.startswith(SELECTION_PREFIX):
        return EXPONENTIAL_AS_GAUSSIAN
    return SUBSAMPLED_GAUSSIAN if sample_rate < 1 else GAUSSIAN


def _rdp(history: History) -> np.ndarray:
    """Summed RDP curve over ALPHAS (what Opacus' RDPAccountant.get_epsilon computes)."""
    from opacus.accountants.analysis.rdp import compute_rdp  # runs opacus/__init__ (torch, scipy): on first use

    total = np.zeros(len(ALPHAS))
    for sigma, q, steps in history:
        if steps > 0:
            total = total + np.asarray(compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=ALPHAS))
    return total


def _epsilon(rdp: np.ndarray, delta: float) -> float:
    from opacus.accountants.analysis.rdp import get_privacy_spent

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is")
        eps, _ = get_privacy_spent(orders=ALPHAS, rdp=rdp, delta=delta)
    return float(eps)


class EpsilonCurve:
    """ε after ``steps`` more Gaussian steps at (σ, q) on top of ``prior``, from RDP curves
    computed once (a step's RDP is linear in the steps): the same figure as
    :func:`compose_epsilon` on ``prior + [(σ, q, steps)]``, without recomputing every term."""

    def __init__(self, prior: History, sigma: float, sample_rate: float, delta: float):
        prior = [h for h in prior if h[2] > 0]
        self.delta = delta
        self.infinite = sigma <= 0 or any(h[0] <= 0 for h in prior)
        if not self.infinite:
            self.prior = _rdp(prior)
            self.step = _rdp([(sigma, sample_rate, 1)])

    def at(self, steps: int) -> float:
        if self.infinite:
            return math.inf
        if steps <= 0 and not self.prior.any():
            return 0.0
        return _epsilon(self.prior + steps * self.step, self.delta)


def compose_epsilon(history: History, delta: float) -> float:
    """ε at ``delta`` of the composition of Gaussian mechanisms (σ, q, steps), via Opacus RDP."""
    history = [h for h in history if h[2] > 0]
    if not history:
        return 0.0
    if any(sigma <= 0 for sigma, _, _ in history):
        return math.inf
    return _epsilon(_rdp(history), delta)


def calibrate_sigma(
    target_epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    prior: History | None = None,
    tol: float = 1e-3,
) -> float:
    """Smallest σ (to ``tol`` relative) such that ``prior`` + (σ, q, steps) stays within ε.

    Like ``opacus.accountants.utils.get_noise_multiplier`` but composing with mechanisms
    already in the ledger, which Opacus' helper cannot do.
    """
    prior = list(prior or [])
    if math.isinf(target_epsilon):
        return 0.0
    if compose_epsilon(prior, delta) >= target_epsilon:
        raise SynthError(f"epsilon {target_epsilon:g} is too small: the releases before this one already spend it; "
                         "give a larger --epsilon")
    prior_rdp = _rdp(prior)

    def eps(sigma: float) -> float:
        return _epsilon(prior_rdp + _rdp([(sigma, sample_rate, steps)]), delta)

    lo, hi = 0.5, 1.0  # bracket the crossing: ε(lo) > target ≥ ε(hi)
    while eps(hi) > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > 1e6:
            raise SynthError(f"epsilon {target_epsilon:g} (this release's share of epsilon) is too small: no noise "
                             "multiplier up to 1e6 reaches it; give a larger --epsilon")
    while eps(lo) <= target_epsilon:
        lo, hi = lo / 2, lo
        if lo < 1e-6:
            return hi
    # Brent's method on the bracket (a handful of RDP evaluations, each costly at q < 1), then
    # the smallest step up that is certainly within the target.
    from scipy.optimize import brentq

    sigma = brentq(lambda s: eps(s) - target_epsilon, lo, hi, xtol=tol * lo / 4, rtol=tol / 4)
    while eps(sigma) > target_epsilon:
        sigma = min(hi, sigma * (1 + tol / 4))
    return sigma


@dataclass(frozen=True)
class Accountant:
    """The accountant behind the ledger: Opacus RDP for add/remove-one-patient adjacency.

    Anything else is refused here, at construction (another method, another adjacency) or when
    a mechanism of a kind it cannot compose is put to it: a PLD or PRV accountant would need a
    dominating pair for the exponential mechanism of pair selection, which synth does not have.
    """

    method: str = ACCOUNTANT
    adjacency: str = ADJACENCY

    def __post_init__(self) -> None:
        if self.method not in SUPPORTED:
            raise SynthError(f"accountant '{self.method}' is not implemented: synth composes with Opacus' RDP "
                             "accountant only (a privacy-loss-distribution accountant such as PLD or PRV would need "
                             "a dominating pair for pair selection's exponential mechanism, recorded by its Renyi "
                             "curve alone)")
        if self.adjacency != ADJACENCY:
            raise SynthError(f"adjacency '{self.adjacency}' is not implemented: every mechanism in synth is analysed "
                             f"for '{ADJACENCY}'")

    @property
    def description(self) -> str:
        """What the ledger says about the accountant (stored in every model file)."""
        return f"opacus {self.method} (composition of Gaussian mechanisms)"

    def check(self, kinds: Iterable[str]) -> None:
        """Refuse any mechanism kind this accountant cannot compose soundly."""
        for kind in kinds:
            if kind not in SUPPORTED[self.method]:
                raise SynthError(f"the {self.method} accountant cannot compose a mechanism of kind '{kind}' "
                                 f"(it composes {', '.join(sorted(SUPPORTED[self.method]))})")

    def epsilon(self, mechanisms: Iterable[Any], delta: float) -> float:
        """ε at ``delta`` of ``mechanisms`` (each with ``kind`` and ``history()``), composed."""
        mechanisms = list(mechanisms)
        self.check(m.kind for m in mechanisms)
        return compose_epsilon([m.history() for m in mechanisms], delta)

    def sigma(self, target_epsilon: float, delta: float, sample_rate: float, steps: int,
              prior: History | None = None) -> float:
        """The smallest σ for ``steps`` more steps at ``sample_rate`` within the target
        (:func:`calibrate_sigma`)."""
        return calibrate_sigma(target_epsilon, delta, sample_rate, steps, prior=prior)

    def curve(self, prior: History, sigma: float, sample_rate: float, delta: float) -> EpsilonCurve:
        """ε along a run of steps at (σ, q) after ``prior`` (:class:`EpsilonCurve`)."""
        return EpsilonCurve(prior, sigma, sample_rate, delta)

    def watch(self, dp_optimizer: Any, sample_rate: float) -> Any:
        """Opacus' RDPAccountant, charged at exactly ``sample_rate`` on every step of ``dp_optimizer``."""
        from opacus.accountants import RDPAccountant

        watcher = RDPAccountant()
        dp_optimizer.attach_step_hook(watcher.get_optimizer_hook_fn(sample_rate=sample_rate))
        return watcher

    @staticmethod
    def steps_seen(watcher: Any, steps: int, sigma: float, sample_rate: float) -> int:
        """The steps the Opacus accountant saw, checked to be exactly ``steps`` at (σ, q)."""
        history = watcher.history
        ran = sum(h[2] for h in history)
        if ran != steps or any(abs(h[0] - sigma) > 0 or abs(h[1] - sample_rate) > 1e-12 for h in history):
            raise RuntimeError(f"accountant saw {history}, expected {steps} steps at sigma={sigma}, q={sample_rate}")
        return ran


RDP = Accountant()  # the one accountant every ledger composes with
