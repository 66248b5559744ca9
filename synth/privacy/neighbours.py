"""The neighbour harness: every mechanism's pre-noise statistic, on D and on D plus one patient.

Run the real code path on D, recording through :mod:`synth.privacy.observe` every release's
pre-noise statistic and output and every Poisson draw. Then run it on D′ = D plus one patient
with the same secret stream, and at each release hand back D's output (so every later choice,
weight and public draw is the same in both runs unless something depends on a secret
quantity) and couple the Poisson batches patient by patient: every patient of D keeps D's
membership and the new patient is in every batch (the worst case). Each release's statistic on
D′ must then be within its charged sensitivity of D's (L2, or L∞ for the exponential
mechanism's scores). A statistic that moves more (the DP-SGD step once paired each patient with
a generated row whose place depended on the batch size: ~11·C), a release made only on one of
the two, or a release whose shape differs between the two, is a failure.

Adjacency: add/remove one patient (the ledger's), with all their visits. Used by
``tests/privacy/test_neighbours.py`` (the lasting guard) and ``bench/neighbours.py`` (the
figures on the bundled trials); never in a user's fit (it sees exact statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from opacus.utils.fast_gradient_clipping_utils import DPTensorFastGradientClipping

NO_LABEL = -1  # synth.models.dp_step.NO_LABEL (not imported: privacy sits upstream of models)
from synth.privacy.observe import listening


@dataclass
class Release:
    name: str
    statistic: Any
    output: Any
    sensitivity: float
    norm: str
    sigma: float | None = None


@dataclass
class Move:
    name: str
    moved: float
    sensitivity: float

    @property
    def ok(self) -> bool:
        return self.moved <= self.sensitivity * (1 + 1e-4) + 1e-6


def _copy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


def distance(a: Any, b: Any, norm: str = "l2") -> float:
    """How far statistic ``b`` is from ``a``: dicts of counts over the union of their keys."""
    if isinstance(a, dict):
        keys = sorted(set(a) | set(b))
        a, b = [a.get(k, 0.0) for k in keys], [b.get(k, 0.0) for k in keys]
    a = a.double().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=float)
    b = b.double().cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return math.inf  # a release whose layout depends on the data outside the ledger
    diff = (b - a).ravel()
    return float(np.abs(diff).max(initial=0.0) if norm == "max" else np.sqrt((diff ** 2).sum()))


@dataclass
class Harness:
    """Record on D (``record``), then replay on D′ (``replay``) and read ``moves``."""

    releases: list[Release] = field(default_factory=list)
    draws: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    _i: int = 0
    _d: int = 0
    _new_row: int | None = None
    results: tuple = ()
    rates: list = field(default_factory=list)

    def check_ledger(self, ledger) -> list[str]:
        """What the first run released against what its ``ledger`` charges, mechanism by mechanism
        in order: as many releases as the entry's steps, each at the entry's σ, and for DP-SGD
        every Poisson draw at the entry's q. Returns the mismatches (none: the ledger is as run)."""
        problems, i = [], 0
        for m in ledger.mechanisms:
            ran = self.releases[i:i + m.steps]
            i += m.steps
            if len(ran) != m.steps:
                problems.append(f"{m.name}: {m.steps} steps charged, {len(ran)} releases made")
            for r in ran:
                if r.sigma is None or not math.isclose(float(r.sigma), m.noise_multiplier, rel_tol=1e-9):
                    problems.append(f"{m.name}: release {r.name!r} at sigma {r.sigma}, charged {m.noise_multiplier}")
            if m.name.startswith("dp_sgd") and (len(self.rates) != m.steps or any(
                    not math.isclose(q, m.sample_rate, rel_tol=1e-12) for q in self.rates)):
                problems.append(f"{m.name}: {len(self.rates)} Poisson draws, charged {m.steps} at q {m.sample_rate}")
        if i != len(self.releases):
            problems.append(f"{len(self.releases) - i} releases beyond what the ledger charges")
        return problems

    def record(self, name, statistic, output, sensitivity, context):
        if statistic is None:
            self.draws.append((output.detach().clone(), context["rows"].detach().clone()))
            self.rates.append(context.get("q"))
        else:
            self.releases.append(Release(name, _copy(statistic), _copy(output), sensitivity,
                                         context.get("norm", "l2"), context.get("sigma")))
        return output

    def replay(self, name, statistic, output, sensitivity, context):
        if statistic is None:
            return self._coupled(output, context["rows"])
        if self._i >= len(self.releases):
            raise AssertionError(f"release {name!r} happened on D plus one patient only")
        first = self.releases[self._i]
        self._i += 1
        if first.name != name or first.sensitivity != sensitivity:
            raise AssertionError(f"release {self._i}: {first.name!r} on D, {name!r} on D plus one patient")
        self.moves.append(Move(name, distance(first.statistic, statistic, first.norm), sensitivity))
        return _copy(first.output)

    def _coupled(self, keep: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        first, first_rows = self.draws[self._d]
        self._d += 1
        if len(keep) != len(first) + 1:
            raise AssertionError(f"a Poisson draw over {len(keep)} rows on D plus one patient, {len(first)} on D")
        if self._new_row is None:
            self._new_row = _inserted_row(first_rows.to(rows.device), rows)
        j = self._new_row
        return torch.cat([first[:j], first.new_ones(1), first[j:]])  # D's batch, and the new patient

    def check(self) -> list[Move]:
        """Every release of D was made on D′ too, and none moved past its sensitivity."""
        if self._i != len(self.releases):
            raise AssertionError(f"{len(self.releases) - self._i} releases on D were not made on D plus one patient")
        return [m for m in self.moves if not m.ok]


def _inserted_row(rows: torch.Tensor, more: torch.Tensor) -> int:
    """The position j at which ``more`` is ``rows`` with one row inserted."""
    same = (rows == more[:-1]).reshape(len(rows), -1).all(dim=1)
    j = int(len(rows)) if bool(same.all()) else int((~same).nonzero()[0])
    if not torch.equal(torch.cat([more[:j], more[j + 1:]]), rows):
        raise AssertionError("the training rows of D plus one patient are not D's rows with one inserted")
    return j


def run_neighbours(fit, data, neighbour) -> Harness:
    """``fit(data)`` recorded, then ``fit(neighbour)`` replayed: the harness with every move, and
    what the two fits returned in ``results`` (given the same outputs, everything public a fit
    makes must be the same: compare them)."""
    harness = Harness()
    with listening(harness.record):
        first = fit(data)
    with listening(harness.replay):
        second = fit(neighbour)
    harness.results = (first, second)
    return harness


def paired_step(module, optimizer, x, y, fake, y_fake, n_classes) -> None:
    """The DP-SGD step as it once was, for the harness's power checks only: patient i paired
    with a generated row whose place depends on the secret batch size k, the pair clipped
    together (a drop-in for :func:`synth.models.dp_step.dp_step`)."""
    optimizer.zero_grad(set_to_none=True)
    k = len(x)
    idx = (torch.arange(k) + k) % len(fake)  # which generated row a patient meets depends on k
    fake, y_fake = fake[idx], y_fake[idx]
    scores, classes = module(torch.stack([x, fake], dim=1))
    loss = (F.binary_cross_entropy_with_logits(scores[:, 0], torch.ones(k), reduction="none")
            + F.binary_cross_entropy_with_logits(scores[:, 1], torch.zeros(k), reduction="none"))
    if n_classes:
        loss = loss + (F.cross_entropy(classes[:, 0], y, reduction="none", ignore_index=NO_LABEL)
                       + F.cross_entropy(classes[:, 1], y_fake, reduction="none"))
    DPTensorFastGradientClipping(module, optimizer, loss, "mean").backward()
    optimizer.step()
