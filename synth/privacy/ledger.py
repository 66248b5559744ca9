"""The privacy ledger: every mechanism that touched real data, composed by one accountant.

Every mechanism in synth is a (subsampled) Gaussian mechanism on a query of L2 sensitivity 1
per patient, so it is described by Opacus' accountant triple (noise multiplier σ, sample rate q,
steps). The ledger keeps that history, composes it with Opacus' RDP accountant and converts to
(ε, δ) once. Category discovery by thresholding adds a δ outside the accountant
(``delta_threshold``), which the ledger subtracts from δ before asking the accountant.

Notes
-----
One adjacency, stated in every ledger: **add/remove one patient** (``ADJACENCY``). Opacus' RDP
accountant for Poisson-subsampled Gaussians and every count of sensitivity 1 are add/remove
analyses; so the number of patients N is not public unless the user states it: ``fit``
releases it as a Gaussian count (``count:patients``) and uses that release wherever N is used
(sample rate, default δ, table totals, resolution, the pair-selection baseline). A count stated
in the metadata (``synth_patients``, e.g. a trial's published enrolment) is a public parameter
instead; each mechanism stays add/remove-DP for any fixed value of it.

The guarantee is void if any computation on real data is missing from ``mechanisms``, if the
exact N read off the data is used or stored anywhere, if a step is taken that the accountant
did not see, or if the noise is not secret (``noise`` says where it came from, see
:mod:`synth.privacy.randomness`).

Pair selection (an exponential mechanism, see :mod:`synth.privacy.pair_tables`) enters the
ledger as the Gaussian with the same Rényi curve. That substitution is sound for an RDP
accountant only: an accountant of privacy-loss distributions (Opacus' PRV, a PLD) needs a pair
of distributions that dominates the mechanism, and the Gaussian need not dominate an exponential
mechanism, so switching the accountant would void the guarantee unless selection changes too.
Bounding selection soundly by ε0-randomized response instead makes a PLD accountant need about
10% more σ than RDP on the benchmark ledgers (``bench/accounting.py``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from synth.errors import SynthError
from synth.privacy.randomness import OS_ENTROPY

__all__ = ["Mechanism", "Ledger", "calibrate_sigma", "compose_epsilon", "EpsilonCurve", "row_privacy_unit", "ADJACENCY"]

ACCOUNTANT = "rdp"
ADJACENCY = "add/remove one patient"
N_RELEASED = "dp: Gaussian count (count:patients)"
N_REFINED = "dp: count:patients combined with the released tables' totals (post-processing)"
ONE_ROW = "one patient (one row)"  # model files written before the id column was checked


def row_privacy_unit(id_column: str | None) -> str:
    """The privacy unit of a table of one row per patient: with a declared id column (checked by
    :func:`synth.schema.validate.check_patient_ids` to hold no repeat), or, without one, the
    assumption the guarantee then rests on, said plainly."""
    if id_column is None:
        return "one patient (one row; no id column is declared, so the guarantee assumes no patient has two rows)"
    return f"one patient (one row; its id column '{id_column}' holds no repeat)"


# Opacus' default orders stop at 63, which cannot certify ε below about log(1/δ)/62; small
# shares of the budget (preprocessing) need higher orders.
ALPHAS = [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)) + [
    int(64 * 1.3**k) for k in range(1, 16)]


@dataclass
class Mechanism:
    """One Gaussian mechanism (or DP-SGD run) on real data, in accountant units."""

    name: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def history(self) -> tuple[float, float, int]:
        return (float(self.noise_multiplier), float(self.sample_rate), int(self.steps))


def _rdp(history: list[tuple[float, float, int]]) -> np.ndarray:
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

    def __init__(self, prior: list[tuple[float, float, int]], sigma: float, sample_rate: float, delta: float):
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


def compose_epsilon(history: list[tuple[float, float, int]], delta: float) -> float:
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
    prior: list[tuple[float, float, int]] | None = None,
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


@dataclass
class Ledger:
    """Target (ε, δ), the mechanisms spent so far, and δ spent outside the accountant."""

    target_epsilon: float
    delta: float | None  # None until fit sets the default from the released N
    n_patients: int | None  # None until released (count:patients) or given as public
    mechanisms: list[Mechanism] = field(default_factory=list)
    delta_threshold: float = 0.0
    privacy_unit: str = ONE_ROW
    n_patients_source: str = "public"  # "public (metadata synth_patients)", N_RELEASED, or "exact (no privacy)"
    noise: str = OS_ENTROPY  # where the mechanisms' randomness came from (synth.privacy.randomness)

    @property
    def no_guarantee(self) -> bool:
        return math.isinf(self.target_epsilon)

    @property
    def accountant_delta(self) -> float:
        return self.delta - self.delta_threshold

    def history(self) -> list[tuple[float, float, int]]:
        return [m.history() for m in self.mechanisms]

    def add(self, mechanism: Mechanism) -> None:
        self.mechanisms.append(mechanism)

    def epsilon(self) -> float:
        """ε spent by everything in the ledger, recomputed from the history."""
        if self.no_guarantee:
            return math.inf
        return compose_epsilon(self.history(), self.accountant_delta)

    def mechanism_epsilon(self, mechanism: Mechanism) -> float:
        """ε of one mechanism alone at the accountant's δ (for the ledger's table)."""
        return compose_epsilon([mechanism.history()], self.accountant_delta)

    def to_dict(self) -> dict[str, Any]:
        eps = self.epsilon()
        return {
            "guarantee": "none: trained without noise (epsilon = inf)" if self.no_guarantee else
            f"({_fmt(eps)}, {self.delta:.3g})-DP for {self.privacy_unit}, {ADJACENCY} adjacency; {self.noise}",
            "epsilon": None if math.isinf(eps) else eps,
            "target_epsilon": None if math.isinf(self.target_epsilon) else self.target_epsilon,
            "delta": self.delta,
            "delta_threshold": self.delta_threshold,
            "accountant": f"opacus {ACCOUNTANT} (composition of Gaussian mechanisms)",
            "adjacency": ADJACENCY,
            "noise": self.noise,
            "privacy_unit": self.privacy_unit,
            "n_patients": self.n_patients,
            "n_patients_source": self.n_patients_source,
            "mechanisms": [
                {**asdict(m), "epsilon_alone": None if self.no_guarantee else self.mechanism_epsilon(m)}
                for m in self.mechanisms
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ledger:
        target = data.get("target_epsilon")
        mechs = [
            Mechanism(**{k: v for k, v in m.items() if k != "epsilon_alone"}) for m in data["mechanisms"]
        ]
        if "n_patients" in data:
            n, source = data["n_patients"], data.get("n_patients_source", "public")
        else:  # format 5 and earlier stored the exact N read off the data
            n, source = data["n_patients_public"], "exact, read off the data (a model file of format 5 or earlier)"
        return cls(
            target_epsilon=math.inf if target is None else float(target),
            delta=float(data["delta"]),
            n_patients=int(n),
            mechanisms=mechs,
            delta_threshold=float(data.get("delta_threshold", 0.0)),
            privacy_unit=data.get("privacy_unit", ONE_ROW),
            n_patients_source=source,
            noise=data.get("noise", "not recorded (a model file of format 5 or earlier: seeded by --seed)"),
        )


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}"
