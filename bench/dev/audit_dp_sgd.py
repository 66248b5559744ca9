"""The DP-SGD audit's pieces: a fit whose only data channel is DP-SGD, canaries whose gradients
stand apart, and the score a white-box adversary reads off the noisy gradient sums.

Threat model: the adversary knows every patient but the canaries, the public metadata and the
discriminator's parameters at every step, and sees every noisy clipped-gradient sum the DP-SGD
step releases (through :func:`synth.privacy.observe.listening`). That is exactly what DP-SGD's
guarantee covers (each sum is a Gaussian mechanism; the model is post-processing of them), so it
is the strongest adversary the guarantee still binds, and a valid audit.

The fit (:func:`fit`): every column's domain public in the metadata, N public
(``synth_patients``), no label (a label's counts are a release), no tables
(``marginal_weight=0``): its ledger holds ``dp_sgd:discriminator`` alone, which :func:`fit` checks.

The canaries (:func:`canary_table`): ``columns`` categorical columns whose public values are
"a", "b" (every other patient) and one value per canary; canary i holds its own value in every
column. The discriminator's first layer is linear, so the gradient of its weight column for an
input feature is zero for every row without that feature: canary i's columns of the first-layer
weights (its *own coordinates*) are touched by canary i alone (and by generated rows that happen
to draw its values, whether it is in or not). Many columns put most of its clipped gradient there.

The score (:class:`GradientScores`): at every step, canary i's gradient of its row's loss
(``BCE(D(x_i), 1)``, as :func:`synth.models.dp_step.row_losses` computes it) at that step's
parameters, clipped to C as DP-SGD clips each row, and its inner product with the noisy sum on
the canary's own coordinates. If canary i is in, each step adds that clipped gradient with
probability q; the noise adds N(0, σ²C²) in every direction; no other patient's gradient adds
anything there. The score is the log-likelihood ratio of those two hypotheses over all steps (a
sum of per-step mixtures, stronger than the plain sum of inner products when σ is small).
Clipping is at C = 0.1 (``CLIP``), below the canaries' gradient norms, so each step carries a full
C of signal; any C is a valid fit, and the ledger's σ does not depend on it.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from synth import Synthesizer
from synth.encode.table import TableEncoder
from synth.models.networks import Discriminator
from synth.models.train import default_batch_size, poisson_rate
from synth.privacy.audit import OneRunResult, one_run_bound
from synth.privacy.domain import default_delta
from synth.release.domain import build_domain
from synth.privacy.ledger import Ledger
from synth.privacy.observe import listening
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame

__all__ = ["DP_SGD", "COLUMNS", "STEPS", "CLIP", "canary_table", "GradientScores", "fit", "one_run", "OneRun"]

DP_SGD = "dp_sgd:discriminator"
COLUMNS = 16  # canary columns: the share of a canary's gradient on its own coordinates grows with them
STEPS = 300  # DP-SGD steps, as a default fit runs (under DP and, here, at ε = ∞ too)
CLIP = 0.1  # C: below every canary's gradient norm, so each step adds a full C of it (at C = 1 early ones add less)
OPTIONS = dict(marginal_weight=0, g_hidden=16, d_hidden=32, noise_dim=4, d_dropout=0.0)


def canary_table(canaries: int, patients: int, columns: int = COLUMNS,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(the ``patients`` others, the ``canaries`` canaries, public metadata). ``synth_patients``
    states the expected count, ``patients + canaries / 2``, fixed before any canary is drawn."""
    rng = np.random.default_rng(seed)
    values = ["a", "b"] + [f"c{i}" for i in range(canaries)]
    spec = {"sdtype": "categorical", "range_values": values, "range_is_nullable": False}
    names = [f"tag{k}" for k in range(columns)]
    others = pd.DataFrame({"pid": np.arange(patients), **{c: rng.choice(["a", "b"], patients) for c in names}})
    rows = pd.DataFrame({"pid": patients + np.arange(canaries),
                         **{c: [f"c{i}" for i in range(canaries)] for c in names}})
    meta = {"METADATA_SPEC_VERSION": "V1", "synth_patients": patients + canaries // 2,
            "tables": {"audit": {"primary_key": "pid", "columns": {"pid": {"sdtype": "id"},
                                                                    **{c: dict(spec) for c in names}}}}}
    return others, rows, meta


def encode(frames: list[pd.DataFrame], meta: dict) -> list[np.ndarray]:
    """Each frame as the fit encodes it. Every domain is public, so this releases nothing
    (checked: the ledger stays empty)."""
    metadata = Metadata.load(meta)
    ledger = Ledger(1.0, None, metadata.public_patients())
    domain = build_domain(coerce_frame(pd.concat(frames, ignore_index=True), metadata, "audit"), metadata, None,
                          ledger, np.random.default_rng(0))
    if ledger.mechanisms:
        raise RuntimeError(f"the audit's metadata leaves releases to make: {[m.name for m in ledger.mechanisms]}")
    encoder = TableEncoder(domain)
    return [encoder.encode(coerce_frame(f, metadata, "audit")) for f in frames]


class GradientScores:
    """A listener: at each DP-SGD step, each canary's clipped gradient on its own coordinates (the
    first-layer weight columns of the features no other row holds), its inner product with the
    noisy sum there and its squared norm; :meth:`likelihood` turns them into one score a canary."""

    def __init__(self, canaries: np.ndarray, others: np.ndarray):
        x = torch.as_tensor(canaries, dtype=torch.float32)
        held = (x != 0).sum(0) + torch.as_tensor((others != 0).sum(0))  # rows holding each feature
        support = [torch.nonzero(row).flatten() for row in x]
        width = max(len(s) for s in support)
        # each canary's features, padded with a feature it lacks (x = 0 there: a zero gradient column)
        blank = [int(torch.nonzero(row == 0).flatten()[0]) if (row == 0).any() else 0 for row in x]
        self.support = torch.stack([torch.cat([s, torch.full((width - len(s),), b)]) for s, b in zip(support, blank)])
        self.values = torch.gather(x, 1, self.support)  # (m, width)
        self.own = (held[self.support] == 1) & (self.values != 0)  # features this canary alone holds
        if not self.own.any(1).all():
            raise ValueError("a canary holds no feature of its own")
        self.inner: list[torch.Tensor] = []  # per step: <noisy sum, clipped gradient> on own coordinates
        self.signal: list[torch.Tensor] = []  # per step: |clipped gradient on own coordinates|²
        self.clip = math.nan  # C, as the step reports it
        self._replica: tuple[Discriminator, list[str]] | None = None

    def __call__(self, name: str, statistic: Any, output: Any, sensitivity: float, context: dict) -> Any:
        if name == DP_SGD:
            self.clip = float(sensitivity)
            inner, signal = self.step_scores(context["module"], torch.as_tensor(output), self.clip)
            self.inner.append(inner)
            self.signal.append(signal)
        return output

    @property
    def steps(self) -> int:
        return len(self.inner)

    def linear(self) -> np.ndarray:
        """Each canary's inner products summed over steps."""
        return torch.stack(self.inner).sum(0).numpy()

    def likelihood(self, sigma: float, q: float) -> np.ndarray:
        """Each canary's log-likelihood ratio of "in" (its clipped gradient added with probability
        q at each step) to "out", were the noise N(0, σ²C²) the only other thing on its
        coordinates; at σ = 0 (ε = ∞), :meth:`linear`. Public σ and q: the ledger's."""
        if sigma == 0:
            return self.linear()
        inner, signal = torch.stack(self.inner), torch.stack(self.signal)
        shift = (inner - signal / 2) / (sigma * self.clip) ** 2  # log N(y; a, σ²C²) − log N(y; 0, σ²C²)
        absent = torch.full_like(shift, math.log1p(-q) if q < 1 else -math.inf)
        return torch.logaddexp(absent, math.log(q) + shift).sum(0).numpy()

    def _names(self, params: list[torch.Tensor]) -> list[str]:
        """The discriminator's parameter names, from a replica of its shape (checked)."""
        if self._replica is None:
            hidden, width = params[0].shape
            replica = Discriminator(width, 0, hidden)  # no label: no class head, no class loss
            self._replica = replica, [n for n, _ in replica.named_parameters()]
        replica, names = self._replica
        shapes = [tuple(p.shape) for p in replica.parameters()]
        if shapes != [tuple(p.shape) for p in params] or names[0] != "body.0.weight":
            raise ValueError("the released module is not synth's discriminator: cannot compute canary gradients")
        return names

    def step_scores(self, module: torch.nn.Module, noisy: torch.Tensor,
                    clip: float) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's inner product and squared signal norm of every canary."""
        params = [p.detach().to("cpu", torch.float32) for p in module.parameters()]
        names = self._names(params)
        noisy = noisy.detach().to("cpu", torch.float32).reshape(-1)
        if noisy.numel() != sum(p.numel() for p in params):
            raise ValueError(f"the noisy sum has {noisy.numel()} values, the module {sum(p.numel() for p in params)}")
        replica = self._replica[0]
        first = params[0]  # (hidden, width); a row's gradient on it is zero where the row is zero
        rest = dict(zip(names[1:], params[1:]))
        columns = first[:, self.support].permute(1, 0, 2)  # (m, hidden, width of a canary's support)

        def loss(own_columns: torch.Tensor, others: dict, values: torch.Tensor) -> torch.Tensor:
            score, _ = functional_call(replica, {"body.0.weight": own_columns, **others}, (values[None],))
            return F.binary_cross_entropy_with_logits(score, torch.ones_like(score)).sum()

        g_columns, g_rest = vmap(grad(loss, argnums=(0, 1)), in_dims=(0, None, 0))(columns, rest, self.values)
        norm2 = g_columns.flatten(1).pow(2).sum(1) + sum(g.flatten(1).pow(2).sum(1) for g in g_rest.values())
        scale = (clip / norm2.sqrt().clamp_min(1e-30)).clamp(max=1.0)  # DP-SGD's clipping of this gradient
        released = noisy[:first.numel()].reshape(first.shape)[:, self.support].permute(1, 0, 2)
        mine = g_columns * self.own[:, None, :]
        own = (mine * released).sum((1, 2))
        return (scale * own).to(torch.float64), (scale ** 2 * mine.pow(2).sum((1, 2))).to(torch.float64)


def steps_epochs(n: int, steps: int = STEPS, batch: int | None = None) -> int:
    """Epochs for about ``steps`` DP-SGD steps at ``batch`` (None: the default) of ``n`` public patients."""
    _, per_epoch = poisson_rate(n, min(batch or default_batch_size(n), n))
    return max(1, math.ceil(steps / per_epoch))


def fit(data: pd.DataFrame, meta: dict, epsilon: float, listener, steps: int = STEPS,
        seed: int = 0, **options: Any) -> Synthesizer:
    """Fit with DP-SGD the only data channel, ``listener`` listening; check the ledger says so
    and that the listener heard every step."""
    epochs = steps_epochs(meta["synth_patients"], steps, options.get("batch_size"))
    with warnings.catch_warnings(), listening(listener):
        warnings.simplefilter("ignore")
        s = Synthesizer(epsilon=epsilon, seed=seed, epochs=epochs, **{**OPTIONS, **options}).fit(data, meta)
    names = [m.name for m in s.ledger.mechanisms]
    if names != [DP_SGD]:
        raise RuntimeError(f"the audited fit released {names}, not DP-SGD alone")
    heard = getattr(listener, "steps", None)
    if heard is not None and heard != s.ledger.mechanisms[0].steps:
        raise RuntimeError(f"the DP-SGD step reported {heard} of its {s.ledger.mechanisms[0].steps} noisy sums "
                           "through synth.privacy.observe")
    return s


@dataclass(frozen=True)
class OneRun:
    """One audited fit: its claim, its DP-SGD parameters and the guesses' bound."""

    epsilon: float
    sigma: float
    sample_rate: float
    steps: int
    included: int
    result: OneRunResult
    seconds: float


def one_run(epsilon: float, canaries: int = 1000, guesses: int = 100, columns: int = COLUMNS,
            steps: int = STEPS, clip: float = CLIP, seed: int = 0, alpha: float = 0.05,
            others: int | None = None, **options: Any) -> OneRun:
    """Steinke et al.'s audit in one fit: each canary in with probability 1/2 (the audit's own draw,
    from ``seed``), one fit, the top ``guesses / 2`` scores guessed in, the bottom ones out.
    ``others`` patients besides (default: half the canaries, so that N = ``canaries``);
    ``options`` go to the Synthesizer (tests: ``batch_size``, ``noise_seed``)."""
    if not 2 <= guesses <= canaries or guesses % 2:
        raise ValueError(f"guesses must be even, from 2 to the {canaries} canaries, got {guesses}")
    started = time.perf_counter()
    others_, rows, meta = canary_table(canaries, canaries // 2 if others is None else others, columns, seed)
    x_others, x_canaries = encode([others_, rows], meta)
    inside = np.random.default_rng(seed).random(canaries) < 0.5
    listener = GradientScores(x_canaries, x_others)
    s = fit(pd.concat([others_, rows[inside]], ignore_index=True), meta, epsilon, listener, steps, seed,
            max_grad_norm=clip, **options)
    dp = s.ledger.mechanisms[0]
    scores = listener.likelihood(dp.noise_multiplier, dp.sample_rate)
    order = np.argsort(scores, kind="stable")
    k = guesses // 2
    correct = int(inside[order[-k:]].sum() + (~inside[order[:k]]).sum())
    delta = s.ledger.delta if s.ledger.delta is not None else default_delta(meta["synth_patients"])
    return OneRun(epsilon, dp.noise_multiplier, dp.sample_rate, dp.steps, int(inside.sum()),
                  one_run_bound(canaries, guesses, correct, delta, alpha), time.perf_counter() - started)
