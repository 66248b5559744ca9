"""The privacy ledger: every mechanism that touched real data, composed by one accountant.

Every mechanism in synth is recorded by kind (a Gaussian, a Poisson-subsampled Gaussian, an
exponential mechanism entered by its Rényi curve) in the accountant's units (noise multiplier σ,
sample rate q, steps). The ledger keeps that history; the accountant
(:mod:`synth.privacy.accountant`, Opacus RDP) composes it and converts to (ε, δ) once. Category
discovery by thresholding adds a δ outside the accountant (``delta_threshold``), which the
ledger subtracts from δ before asking the accountant.

Notes
-----
One adjacency, stated in every ledger: **add/remove one patient** (``ADJACENCY``). Opacus' RDP
accountant for Poisson-subsampled Gaussians and every count of sensitivity 1 are add/remove
analyses; so the number of patients N is not public unless the user states it: ``fit``
releases it as a Gaussian count (``count:patients``) and uses that release wherever N is used
(sample rate, default δ, table totals, resolution, the pair-selection baseline). A count stated
in the metadata (``synth_patients``, e.g. a trial's published enrolment) is a public parameter
instead; each mechanism stays add/remove-DP for any fixed value of it.

The guarantee is void if any computation on real data is missing from ``mechanisms``, if a
mechanism is recorded under a kind it is not, if the exact N read off the data is used or stored
anywhere, if a step is taken that the accountant did not see, or if the noise is not secret
(``noise`` says where it came from, see :mod:`synth.privacy.randomness`). Why pair selection
binds synth to the RDP accountant: :mod:`synth.privacy.accountant`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from synth.privacy.accountant import (ADJACENCY, ALPHAS, RDP, EpsilonCurve, calibrate_sigma, compose_epsilon,
                                      kind_of)
from synth.privacy.randomness import OS_ENTROPY

# calibrate_sigma, compose_epsilon, EpsilonCurve, ALPHAS: the accountant's, named here too for callers of old
__all__ = ["Mechanism", "Ledger", "calibrate_sigma", "compose_epsilon", "EpsilonCurve", "row_privacy_unit", "ADJACENCY",
           "ALPHAS"]

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


@dataclass
class Mechanism:
    """One mechanism (or DP-SGD run) on real data, in accountant units, by ``kind``
    (:data:`synth.privacy.accountant.KINDS`; when not given, :func:`~synth.privacy.accountant.kind_of`
    its name and sample rate). The kind is not stored in model files: it is derived again on load."""

    name: str
    noise_multiplier: float
    sample_rate: float
    steps: int
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = kind_of(self.name, float(self.sample_rate))

    def stored(self) -> dict[str, Any]:
        """What a model file keeps of it (every field but the derived kind)."""
        return {k: v for k, v in asdict(self).items() if k != "kind"}

    def history(self) -> tuple[float, float, int]:
        return (float(self.noise_multiplier), float(self.sample_rate), int(self.steps))


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
        RDP.check([mechanism.kind])
        self.mechanisms.append(mechanism)

    def epsilon(self) -> float:
        """ε spent by everything in the ledger, recomputed from the history."""
        if self.no_guarantee:
            return math.inf
        return RDP.epsilon(self.mechanisms, self.accountant_delta)

    def mechanism_epsilon(self, mechanism: Mechanism) -> float:
        """ε of one mechanism alone at the accountant's δ (for the ledger's table)."""
        return RDP.epsilon([mechanism], self.accountant_delta)

    def to_dict(self) -> dict[str, Any]:
        eps = self.epsilon()
        return {
            "guarantee": "none: trained without noise (epsilon = inf)" if self.no_guarantee else
            f"({_fmt(eps)}, {self.delta:.3g})-DP for {self.privacy_unit}, {ADJACENCY} adjacency; {self.noise}",
            "epsilon": None if math.isinf(eps) else eps,
            "target_epsilon": None if math.isinf(self.target_epsilon) else self.target_epsilon,
            "delta": self.delta,
            "delta_threshold": self.delta_threshold,
            "accountant": RDP.description,
            "adjacency": ADJACENCY,
            "noise": self.noise,
            "privacy_unit": self.privacy_unit,
            "n_patients": self.n_patients,
            "n_patients_source": self.n_patients_source,
            "mechanisms": [
                {**m.stored(), "epsilon_alone": None if self.no_guarantee else self.mechanism_epsilon(m)}
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
