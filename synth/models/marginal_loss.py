"""The generator's marginal-matching loss: post-processing of the noisy marginal tables.

For a batch of generated rows, the generator's own cell probabilities (softmax of its logits;
for a nullable numerical column, bins × present plus missing) are averaged within each label
value (or over the batch, for a table not crossed with the label; merged into the table's
groups where it has them; for a table pooled over visits, averaged over each patient's
visits first, see :func:`pooled_cells`) and compared with the noisy tables' conditional
distributions; the loss is the squared distance, weighted by the DP label proportions.
Label tables released on groups of cells (few patients, two stages) are matched a second time
at full resolution, filled inside each group by the column's released shape
(:func:`synth.models.refine.refined_tables`), by default when they have at most ``REFINE_MAX_GROUPS``
groups (``refine_groups`` forces it either way). For visit sequences a second
term, :func:`slot_drift`, asks every visit slot to look like the patients' visits as a whole
(per label), the one assumption that ties the slots together when the tables only describe
them pooled. Nothing here reads real data.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.csgraph import shortest_path

from synth.encode.table import CellBlock
from synth.models.batched_tables import BatchedTables
from synth.models.probabilities import last_dim_softmax, visit_weights
from synth.models.slot_drift import BatchedSlotDrift, drift_width
from synth.privacy.marginals import MarginalTable
from synth.models.mean_targets import MeanTerm
from synth.models.refine import refined_tables
from synth.models.slot_pair_loss import SlotPairTerm

__all__ = ["MarginalLoss", "soft_cells", "visit_slot_cells", "pooled_cells", "slot_drift", "pair_mask",
           "within_label_dependence", "measured_distance", "STATIONARITY", "INDEPENDENCE", "INDEPENDENCE_REACH",
           "REFINE_MAX_GROUPS", "label_groups", "PADDED_ROWS"]


def soft_cells(raw: torch.Tensor, block: CellBlock) -> torch.Tensor:
    """(B, n_cells) probabilities of each generated row's cell, from the generator's logits."""
    p = F.softmax(raw[:, block.start:block.start + block.width], dim=1)
    if block.missing is None:
        return p
    p_missing = F.softmax(raw[:, block.missing:block.missing + 2], dim=1)[:, 1:2]
    return torch.cat([p * (1 - p_missing), p_missing], dim=1)


def visit_slot_cells(raw: torch.Tensor, block: CellBlock, visits: CellBlock, k: int) -> torch.Tensor:
    """(B, n_cells + 1): a visit slot k's cells weighed by P(visits > k), then "no visit k".

    The generator's side of a per-visit table (:class:`~synth.privacy.marginals.TableSpec`'s
    ``slots``): a real patient with k visits or fewer falls in the last cell.
    """
    p_visits = F.softmax(raw[:, visits.start:visits.start + visits.width], dim=1)  # column j ↔ j + 1 visits
    if visits.presence is None:
        present = p_visits[:, k:].sum(dim=1, keepdim=True)
    else:  # an attendance pattern: P(slot k attended)
        present = p_visits @ torch.as_tensor(visits.presence, dtype=raw.dtype)[:, k:k + 1]
    return torch.cat([soft_cells(raw, block) * present, 1.0 - present], dim=1)


def pooled_cells(raw: torch.Tensor, slots: tuple[CellBlock, ...], visits: CellBlock, phases: int = 0) -> torch.Tensor:
    """(B, n_cells): each generated patient's cells averaged over their visits (weight 1/n each).

    The expectation over the generator's own visit-count distribution P(n): slot k weighs
    Σ_{n > k} P(n)/n, so the weights of a patient sum to 1, as a real patient's do in the table.
    With ``phases`` (a numerical column's missing cell by visit phase, see
    :class:`~synth.privacy.marginals.TableSpec`), slot k's missing probability goes to the
    cell of phase min(k, phases − 1).
    """
    p_visits = F.softmax(raw[:, visits.start:visits.start + visits.width], dim=1)  # column j ↔ j + 1 visits
    if visits.presence is None:
        per_visit = p_visits / torch.arange(1, visits.width + 1, dtype=raw.dtype)
        weight = torch.flip(torch.cumsum(torch.flip(per_visit, [1]), 1), [1])  # (B, slots): Σ_{n > k} P(n)/n
    else:  # an attendance pattern with n slots attended: 1/n at each
        attended = torch.as_tensor(visits.presence, dtype=raw.dtype)
        weight = (p_visits / attended.sum(dim=1)) @ attended
    if not phases:
        return sum(weight[:, k:k + 1] * soft_cells(raw, b) for k, b in enumerate(slots))
    width = slots[0].width
    out = []
    for k, b in enumerate(slots):
        cells = weight[:, k:k + 1] * soft_cells(raw, b)
        place = torch.zeros(width + 1, width + phases, dtype=raw.dtype)  # slot k's cells → the table's
        place[torch.arange(width), torch.arange(width)] = 1.0
        place[width, width + min(k, phases - 1)] = 1.0
        out.append(cells @ place)
    return sum(out)


def slot_drift(raw: torch.Tensor, by_label: torch.Tensor, slots: tuple[CellBlock, ...],
               visits: CellBlock) -> torch.Tensor:
    """(classes,) how far each visit slot's values are from the patients' values over all slots.

    For each label value: the distribution of slot k's value cells (bins given present for a
    numerical column; a categorical one's categories, given present when it is nullable and on
    a stated schedule's slots, see :data:`synth.models.slot_drift.PRESENT_ONLY`) over the generated patients that
    have slot k (weighted by P(visits > k)), and its squared distance from the same
    distribution over all slots, averaged over slots by their weight. A pooled table says how
    a column's values are spread over a patient's visits, not how they are spread at each
    visit: this keeps the generator from moving a label's values between slots at random.
    """
    _, present = visit_weights(raw, visits)  # (B, slots): P(visits > k), or P(slot k attended)
    index = torch.as_tensor([list(range(b.start, b.start + drift_width(b, visits))) for b in slots])  # (slots, cells)
    values = last_dim_softmax(raw.index_select(1, index.reshape(-1)).reshape(len(raw), *index.shape))
    w = present[:, :, None] * by_label[:, None, :]  # (B, slots, classes)
    mass = w.sum(dim=0)  # (slots, classes)
    dist = torch.einsum("bsc,bsv->scv", w, values) / mass.clamp(min=1e-6)[:, :, None]
    share = mass / mass.sum(dim=0).clamp(min=1e-6)
    pooled = (share[:, :, None] * dist).sum(dim=0)
    return (share * ((dist - pooled) ** 2).sum(dim=2)).sum(dim=0)


# Batches of at most this many generated rows take the tables' term with its classes padded
# together (fewer ops), larger ones with its classes apart (fewer cells): the same loss either
# way (synth.models.batched_tables.PAIR_PADDING; issue 47).
PADDED_ROWS = 512

# Weight of slot_drift next to the tables' terms; chosen once (bench/RESULTS.md, issue #5 item 33).
STATIONARITY = 1.0

# Weight of within_label_dependence next to the tables' terms. Off by default (bench/RESULTS.md,
# issue #5 items 39-40): at 10 it steadied pbcseq's ratio (sd 0.089 -> 0.061, mean +0.017, within
# the noise) and raised ACTG175's (0.875 -> 0.897), at a cost to ACTG175's pair trends
# (0.826 -> 0.801 with INDEPENDENCE_REACH = 2). An option (``TrainConfig.independence``) for
# users who value prediction over pair trends.
INDEPENDENCE = 0.0

# Match label tables released on groups a second time at full resolution (synth.models.refine) when
# the label stage has at most this many groups per column (bench/RESULTS.md, issue #5 items 47,
# 49, 51, 52 and 54): at 2 groups the ratio rose on pbcseq (0.778 -> 0.800, 12 seeds) and on
# the held-out tables of item 51; at 3 and 4 groups (colon and GBSG2 cut to 350-500 patients)
# ratio and quality moved within the noise, pooled at or above the pre-registered bar; at 5
# (colon-700, ACTG175-900) the ratio fell 0.008 and at 6 (GBSG2's 80% split) 0.031. One-stage
# tables have no groups and are never refined. ``TrainConfig.refine_groups`` forces it on or off.
REFINE_MAX_GROUPS = 4

# Column pairs joined by a path of at most this many measured pairs are left out of the term:
# a-b and b-c measured make a and c dependent, and asking otherwise fights the tables (item 40:
# ACTG175's pair trends 0.779 at 1, 0.801 at 2, 0.800 at 3).
INDEPENDENCE_REACH = 2


def measured_distance(n_columns: int, measured: list[tuple[int, int]]) -> np.ndarray:
    """(n, n): the fewest measured pairs on a path between two columns (inf: no path)."""
    adjacency = np.zeros((n_columns, n_columns))
    for a, b in measured:
        adjacency[a, b] = adjacency[b, a] = 1.0
    return shortest_path(adjacency, unweighted=True, directed=False)


def pair_mask(widths: list[int], pairs: list[tuple[int, int]]) -> torch.Tensor:
    """(D, D) ones where a row's cell belongs to column a and a column's cell to b, for each (a, b)."""
    edges = [0, *torch.cumsum(torch.as_tensor(widths), 0).tolist()]
    mask = torch.zeros(edges[-1], edges[-1])
    for a, b in pairs:
        mask[edges[a]:edges[a + 1], edges[b]:edges[b + 1]] = 1.0
    return mask


def within_label_dependence(cells: list[torch.Tensor], by_label: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(classes,) squared within-label cross-covariance of the column pairs in ``mask`` (:func:`pair_mask`).

    ``cells[a]`` is (B, cells of column a): each generated patient's cell probabilities. For
    each label value, the covariance between column a's and column b's cell indicators over
    the batch (rows weighted by ``by_label``) is zero exactly when a and b are independent
    given the label, the maximum-entropy choice where no released table says otherwise.
    """
    p = torch.cat(cells, dim=1)
    n = by_label.sum(dim=0).clamp(min=1)
    mean = by_label.T @ p / n[:, None]  # (classes, D)
    second = torch.einsum("bc,bi,bj->cij", by_label, p, p) / n[:, None, None]
    cov = second - mean[:, :, None] * mean[:, None, :]
    return (cov ** 2 * mask).sum(dim=(1, 2))


def label_groups(tables: list[MarginalTable]) -> float:
    """Groups per column of the label tables released on groups: the most any has (the label
    stage's resolution, :mod:`synth.privacy.resolution`); inf when none is grouped (one stage)."""
    counts = [int(np.max(t.groups[0])) + 1 for t in tables
              if t.by_label and t.groups and t.groups[0] is not None]
    return max(counts) if counts else math.inf


class MarginalLoss:
    """Squared distance between generated and noisy per-label cell distributions, summed over tables."""

    def __init__(self, tables: list[MarginalTable], label_proportions: list[float], independence: float | None = None,
                 refine_groups: bool | None = None, means: list | None = None):
        across = [t for t in tables if t.over_slot_pairs]  # matched on their own (synth.models.slot_pair_loss)
        self.slot_pairs = SlotPairTerm(across) if across else None
        tables = [t for t in tables if not t.over_slot_pairs]
        released, groups = len(tables), label_groups(tables)
        if groups <= REFINE_MAX_GROUPS if refine_groups is None else refine_groups:
            tables = tables + refined_tables(tables)
        self.tables = tables
        # What the generator is asked to match, for the model's training summary (``synth info``).
        self.matched = {"released": released, "refined": [t.name for t in tables[released:]],
                        "label_groups": None if math.isinf(groups) else int(groups),
                        "smoothed": [t.name for t in tables[:released] if t.smoothable_cells()],
                        **({"slot_pairs": [t.name for t in across]} if across else {})}
        self.independence = INDEPENDENCE if independence is None else independence
        columns = {}  # column (a pooled table's first slot, as in pair tables) → its one-block table
        for t in tables:
            if len(t.blocks) == 1 or t.pooled_by is not None:
                columns.setdefault(t.blocks[0].column, t)
        self.columns = list(columns.values())
        names = list(columns)
        index = {c: i for i, c in enumerate(names)}
        measured = [tuple(index[b.column] for b in t.blocks) for t in tables  # pairs among the term's columns
                    if len(t.blocks) == 2 and t.pooled_by is None and all(b.column in index for b in t.blocks)]
        distance = measured_distance(len(names), measured)
        self.free_pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))
                           if distance[i, j] > INDEPENDENCE_REACH]  # not implied by the tables
        self.free_mask = pair_mask([t.blocks[0].n_cells for t in self.columns], self.free_pairs) if (
            self.independence and self.free_pairs) else None
        pooled = {t.blocks[0].column: t for t in tables  # no drift penalty between a first time and gaps
                  if t.pooled_by is not None and not t.spec.visit_times}
        self.sequences = [(t.blocks, t.pooled_by) for t in pooled.values()]
        self.targets = [torch.as_tensor(t.conditional(), dtype=torch.float32) for t in tables]
        self.merges = [[None if g is None else torch.eye(int(g.max()) + 1)[torch.as_tensor(g)]
                        for g in (t.groups or [None] * len(t.blocks))] for t in tables]
        n_classes = len(tables[0].counts) if tables else 1
        weights = label_proportions if label_proportions else [1.0] * n_classes
        self.weights = torch.as_tensor(weights, dtype=torch.float32)
        targets = [t.numpy() for t in self.targets]
        self.batched = BatchedTables(self.tables, targets)  # classes padded together: small batches
        self.batched_large = BatchedTables(self.tables, targets, padding=0.0)  # classes apart: large ones
        self.drift = BatchedSlotDrift(self.sequences)
        self.means = MeanTerm(means, tables) if means else None  # a declared numerical outcome's arm means

    def to(self, device: torch.device | str) -> MarginalLoss:
        """Targets, weights, masks and the batched indices on ``device`` (in place); returns self."""
        self.weights = self.weights.to(device)
        self.targets = [t.to(device) for t in self.targets]
        self.merges = [[None if m is None else m.to(device) for m in merges] for merges in self.merges]
        if self.free_mask is not None:
            self.free_mask = self.free_mask.to(device)
        self.batched.to(device)
        self.batched_large.to(device)
        self.drift.to(device)
        if self.means is not None:
            self.means.to(device)
        if self.slot_pairs is not None:
            self.slot_pairs.to(device)
        return self

    def __call__(self, raw: torch.Tensor, y: torch.Tensor | None, block: int | None = None) -> torch.Tensor:
        """The loss of generated rows ``raw`` (logits) with labels ``y``; ``block``: the tables'
        cells computed that many rows at a time (the same value; for scores, without a gradient)."""
        n_classes = len(self.weights)
        by_label = raw.new_ones(len(raw), 1) if y is None else F.one_hot(y, n_classes).float()
        tables = self.batched if len(raw) <= PADDED_ROWS else self.batched_large
        loss = tables(raw, by_label, self.weights if y is not None else raw.new_ones(1), block)
        return loss + self.other_terms(raw, y, by_label)

    def other_terms(self, raw: torch.Tensor, y: torch.Tensor | None, by_label: torch.Tensor) -> torch.Tensor:
        """Slot drift (visit sequences) and within-label independence, when they are on."""
        loss = raw.new_zeros(())
        if self.slot_pairs is not None:
            loss = loss + self.slot_pairs(raw)
        if STATIONARITY and self.sequences:
            loss = loss + STATIONARITY * self.drift(raw, by_label, self.weights if y is not None else torch.ones(1))
        if self.independence and self.free_pairs:
            cells = [soft_cells(raw, t.blocks[0]) if t.pooled_by is None
                     else pooled_cells(raw, t.blocks, t.pooled_by) for t in self.columns]
            weights = self.weights if y is not None else torch.ones(1)
            dependence = within_label_dependence(cells, by_label, self.free_mask)
            loss = loss + self.independence * (weights * dependence).sum()
        if self.means is not None:
            loss = loss + self.means(raw, by_label)
        return loss
