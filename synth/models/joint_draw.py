"""A declared time-to-event pair drawn jointly in each arm: post-processing of the model and releases.

The generator draws each column's cell on its own given its noise: the event from its softmax,
the time's bin from another, and the time's position inside its bin from a tanh output no
table constrains. A Cox model reads the three together, and on trials of 100–1,000 patients
their arm-by-arm joint drifts from the released table in ways the trial never had: a hazard
ratio significant in 7 of 10 fits of a null trial (bench/RESULTS.md, issue 46). When the
declared analysis's arm is the fit's class, after training:

1. :func:`calibrate_pairs` fits per-arm log weights θ over the pair's (event, time bin) cells by
   iterative proportional fitting on generated rows, so that the cells drawn from
   softmax(event) ⊗ softmax(time) · exp(θ_arm) average to the released arm × event × time table
   (shrunk by its noise, :mod:`synth.privacy.shrinkage`; the event's rate per arm that of the
   binary outcome's calibration where there is one); and it stores the quantiles of the
   generated positions inside each (event, bin) cell, pooled over the arms.
2. The sampler (:meth:`JointDraws.redraw`) draws the pair's cell jointly with θ of the row's arm
   (by the event's uniform) and the position from the pooled quantiles (by the time's uniform):
   the position carries no arm, the cells carry what the table released.

Notes
-----
Reads the generator, the released tables and their σ only, and draws from a generator seeded
with the public seed: no real data. What would void the guarantee: a target or a quantile
computed from real rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from synth.privacy.analysis_tables import declared_table

__all__ = ["PairCells", "JointDraws", "calibrate_pairs", "draw_pairs_jointly", "QUANTILES"]

QUANTILES = 33  # positions stored per (event, bin) cell: the 0, 1/32, …, 1 quantiles
CALIBRATION_ROWS = 20_000  # generated rows per class
ITERATIONS = 30
MIN_ROWS = 50  # generated rows a cell needs for its own quantiles (else its bin's, else uniform)


@dataclass(frozen=True)
class PairCells:
    """Where a time-to-event pair sits in the generator's output: the event's softmax span and
    the time's bins (its within-bin position is the column after them)."""

    event_start: int
    event_width: int
    time_start: int
    time_width: int

    @property
    def position(self) -> int:
        return self.time_start + self.time_width

    def to_list(self) -> list[int]:
        return [self.event_start, self.event_width, self.time_start, self.time_width]


class JointDraws(nn.Module):
    """Each pair's per-class log weights ``tilt_i`` (classes, event cells, time bins) and pooled
    position quantiles ``position_i`` (event cells, time bins, QUANTILES); stored with the
    generator's weights (model format 10)."""

    def __init__(self, pairs: list[PairCells], n_classes: int):
        super().__init__()
        self.pairs = list(pairs)
        for i, p in enumerate(self.pairs):
            self.register_buffer(f"tilt_{i}", torch.zeros(n_classes, p.event_width, p.time_width))
            uniform = torch.linspace(-1, 1, QUANTILES).expand(p.event_width, p.time_width, QUANTILES).clone()
            self.register_buffer(f"position_{i}", uniform)

    def check(self, spans, n_classes: int) -> None:
        """Raise ValueError unless every pair is a two-cell softmax span (the event) and a softmax
        span of bins followed by its one tanh position (the time), the pairs disjoint, the model
        conditioned on a class, the tilts finite and the positions finite, non-decreasing quantiles
        in [-1, 1] (a model file is read from strangers: :func:`synth.io.modelfile.check_sizes`
        bounded the shapes)."""
        softmax = {s.start: s for s in spans if s.activation == "softmax"}  # a numerical column: "name#bin", then "name"
        tanh = {s.start: s for s in spans if s.activation == "tanh"}
        used: set[int] = set()
        if n_classes < 1 and self.pairs:
            raise ValueError("a joint time-to-event draw needs the arm as the model's class")
        for i, p in enumerate(self.pairs):
            event, time, position = softmax.get(p.event_start), softmax.get(p.time_start), tanh.get(p.position)
            if (event is None or event.width != p.event_width or p.event_width != 2 or time is None
                    or time.width != p.time_width or position is None or position.width != 1
                    or time.column != position.column + "#bin" or {p.event_start, p.time_start} & used):
                raise ValueError(f"joint pair {i} does not sit on an event's and a time's spans")
            used |= {p.event_start, p.time_start}
            tilt, q = self.tilt(i), self.positions(i)
            if not torch.isfinite(tilt).all() or not torch.isfinite(q).all() or q.abs().max() > 1 \
                    or (q.diff(dim=-1) < 0).any():
                raise ValueError(f"joint pair {i}: its weights or positions are not finite, ordered quantiles")

    def tilt(self, i: int) -> torch.Tensor:
        return getattr(self, f"tilt_{i}")

    def positions(self, i: int) -> torch.Tensor:
        return getattr(self, f"position_{i}")

    def redraw(self, out: torch.Tensor, chosen: dict[int, np.ndarray], labels: torch.Tensor,
               uniform: torch.Tensor, uniform_at: dict[int, int]) -> None:
        """Replace each pair's drawn cells in ``chosen`` and the time's position in ``out`` (the
        generator's rows, tanh applied), in place: the cell drawn from the tilted joint by the
        inverse of its CDF at the event's uniform, the position the pooled quantile at the time's."""
        k = len(out)
        rows = torch.arange(k)
        for i, p in enumerate(self.pairs):
            e = out[:, p.event_start:p.event_start + p.event_width]
            t = out[:, p.time_start:p.time_start + p.time_width]
            logits = (e.unsqueeze(2) + t.unsqueeze(1) + self.tilt(i).to(out.dtype)[labels]).reshape(k, -1)
            mass = (logits - logits.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)
            threshold = uniform[:, uniform_at[p.event_start]].to(mass.dtype).unsqueeze(1) * mass[:, -1:]
            cell = torch.searchsorted(mass, threshold, right=True).squeeze(1).clamp_(max=mass.shape[1] - 1)
            event, time = cell // p.time_width, cell % p.time_width
            chosen[p.event_start] = event.numpy()
            chosen[p.time_start] = time.numpy()
            q = self.positions(i)[event, time].to(out.dtype)  # (k, QUANTILES)
            at = uniform[:, uniform_at[p.time_start]].to(out.dtype) * (QUANTILES - 1)
            lo = at.floor().long().clamp_(max=QUANTILES - 2)
            frac = at - lo
            out[:, p.position] = q[rows, lo] + frac * (q[rows, lo + 1] - q[rows, lo])


def _tilt(base: np.ndarray, want: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """θ (event cells, time bins), constant over the bins of each of ``groups``' groups, with the
    mean over rows of base · exp(θ), renormalised per row and summed within groups, = ``want``
    (event cells, groups)."""
    n_groups = want.shape[1]
    grouped = np.stack([base[:, :, groups == g].sum(axis=2) for g in range(n_groups)], axis=2)
    theta = np.zeros(want.shape)
    for _ in range(ITERATIONS):
        w = grouped * np.exp(theta)
        have = (w / w.sum(axis=(1, 2), keepdims=True)).mean(axis=0)
        theta += np.log(want / np.clip(have, 1e-12, None))
        theta -= theta.max()
    return theta[:, groups]


def _quantiles(values: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    if len(values) >= MIN_ROWS:
        return np.quantile(values, np.linspace(0, 1, QUANTILES))
    return fallback


def calibrate_pairs(gen, pairs: list[PairCells], targets: list[np.ndarray], proportions: np.ndarray,
                    seed: int, groups: list[np.ndarray | None] | None = None) -> JointDraws | None:
    """Fit :class:`JointDraws` for ``pairs`` on generated rows: θ so each class's tilted joint
    equals ``targets[i][class]`` (a distribution over event cells × the time's bins, or over the
    groups ``groups[i]`` maps the bins to, when the released table merged them), and the
    positions' quantiles pooled over classes by ``proportions``. Post-processing only."""
    if not pairs or gen.embed is None:
        return None
    joint = JointDraws(pairs, gen.n_classes)
    rng = torch.Generator().manual_seed(int(seed) + 15_485_863)
    draw_rng = np.random.default_rng(int(seed) + 32_452_843)
    device = gen.out.weight.device
    proportions = np.asarray(proportions, dtype=float) / float(np.sum(proportions))
    by_class = []
    for c in range(gen.n_classes):
        z = torch.randn(CALIBRATION_ROWS, gen.noise_dim, generator=rng)
        y = torch.full((CALIBRATION_ROWS,), c, dtype=torch.long)
        with torch.inference_mode():
            by_class.append(gen.logits(z.to(device), y.to(device)).cpu().double())
    for i, (p, target) in enumerate(zip(pairs, targets)):
        group = np.arange(p.time_width) if groups is None or groups[i] is None else np.asarray(groups[i])
        cells, positions, weights = [], [], []
        theta = np.zeros((gen.n_classes, p.event_width, p.time_width))
        for c, raw in enumerate(by_class):
            pe = torch.softmax(raw[:, p.event_start:p.event_start + p.event_width], 1).numpy()
            pt = torch.softmax(raw[:, p.time_start:p.time_start + p.time_width], 1).numpy()
            base = pe[:, :, None] * pt[:, None, :]
            want = np.clip(np.asarray(target[c], dtype=float), 1e-9, None)
            theta[c] = _tilt(base, want / want.sum(), group)
            w = (base * np.exp(theta[c])).reshape(len(base), -1)
            cdf = np.cumsum(w / w.sum(axis=1, keepdims=True), axis=1)
            cells.append(np.minimum((cdf < draw_rng.random((len(w), 1))).sum(axis=1), w.shape[1] - 1))
            positions.append(torch.tanh(raw[:, p.position]).numpy())
            weights.append(np.full(len(w), proportions[c] if c < len(proportions) else 0.0))
        cell, pos, weight = np.concatenate(cells), np.concatenate(positions), np.concatenate(weights)
        keep = draw_rng.random(len(cell)) < weight / max(weight.max(), 1e-12)  # rows pooled in the arms' proportions
        cell, pos = cell[keep], pos[keep]
        quantiles = np.empty((p.event_width, p.time_width, QUANTILES))
        uniform = np.linspace(-1, 1, QUANTILES)
        for b in range(p.time_width):
            in_bin = cell % p.time_width == b
            pooled = _quantiles(pos[in_bin], uniform)
            for e in range(p.event_width):
                quantiles[e, b] = _quantiles(pos[in_bin & (cell // p.time_width == e)], pooled)
        joint.tilt(i).copy_(torch.as_tensor(theta, dtype=torch.float32))
        joint.positions(i).copy_(torch.as_tensor(quantiles, dtype=torch.float32))
    return joint.to(device)


def draw_pairs_jointly(gen, analysis, tables, label: str | None, proportions, seed: int) -> list[str]:
    """Set ``gen.joint`` for each declared time-to-event pair whose arm × event × time table the
    fit released, when the arm is the fit's class (``label``): the pairs' targets are that
    table's (shrunk) distribution per arm, its event rates replaced by the binary outcome's
    calibrated ones where the event is also declared as an outcome. Pairs whose event is not two
    cells or whose time may be missing are left to the independent draws. The pairs' names."""
    from synth.models.calibrate import shrunk_rates

    if analysis is None or label != analysis.arm or not tables or gen.embed is None:
        return []
    pairs, targets, names, merged = [], [], [], []
    for pair in analysis.time_to_event:
        table = declared_table(tables, (pair.event, pair.time))
        if table is None or table.counts.ndim != 3:
            continue
        event, time = table.blocks
        group = table.spec.group(1)
        if event.missing is not None or event.n_cells != 2 or time.missing is not None or table.counts.shape[1:] != (
                event.width, time.width if group is None else int(group.max()) + 1):
            continue
        target = table.conditional()
        binary = declared_table(tables, (pair.event,))
        if binary is not None and binary.sigma > 0 and binary.counts.shape[1:] == (2,):
            rates = shrunk_rates(binary.counts[:, :2], binary.sigma)
            given = target / np.clip(target.sum(axis=2, keepdims=True), 1e-12, None)
            target = given * np.stack([1 - rates, rates], axis=1)[:, :, None]
        pairs.append(PairCells(event.start, event.width, time.start, time.width))
        targets.append(target)
        merged.append(group)
        names.append(f"{pair.time} → {pair.event}")
    gen.joint = calibrate_pairs(gen, pairs, targets, np.asarray(proportions, dtype=float), seed, merged)
    return names if gen.joint is not None else []
