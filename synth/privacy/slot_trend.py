"""How a temporal column's values change over the scheduled visits: one slot × value table.

On scheduled slots (:mod:`synth.schema.slots`) whose label tables are pooled over visits (the
resolution rule's choice at small N), nothing released said how slot k's values differ from
slot 1's, and the slot-drift term pulled every slot towards the pooled values (bench/RESULTS.md,
issue 48: thought disorder 64% at month 0 and 8% at month 10, synthetic flat at ~58%). For
each such temporal column, one table of (slot, value) cells, not crossed with the label: a
patient who attended n slots adds 1/√n to the cell (k, value at slot k) of each attended slot
k, so their L2 norm is exactly 1 (sensitivity 1), and every slot gets √n times the weight the
pooled table's 1/n gives it. A numerical column is on public groups (adjacent bins in pairs,
missing apart); a categorical column's cells as they are (a blank is a cell of its own, so
where no baseline value is missing the table says so).

The tables are released before the label stage, one Gaussian step each at the stage's σ (its σ
is calibrated with them in the ledger, as with the attendance table); the generator matches
each slot's distribution (:class:`synth.models.slot_pair_loss.SlotTrendTerm`) beside the
slot-drift term (without it the per-label values at each slot drifted: bench/RESULTS.md).

Notes
-----
What would void the guarantee: a patient adding more than L2 norm 1 (pass one encoded row per
patient; the weights above), groups formed from the data, or noise from anything but the fit's
secret generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.encode.table import CellBlock, visit_presence
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MarginalTable, TableSpec, cell_counts, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.shards import total

__all__ = ["SlotTrendSpec", "slot_trend_specs", "release_slot_trends", "public_groups", "ENABLED"]

ENABLED = True  # research switch (bench/schedule.py's synth-no-slot-trend arm)


def public_groups(block: CellBlock) -> np.ndarray | None:
    """A numerical column's bins merged in adjacent pairs, missing a group of its own; None for
    a categorical column (its cells as they are). The schema only."""
    if not block.ordered or block.width <= 2:
        return None
    bins = np.arange(block.width) // 2
    return np.concatenate([bins, np.full(block.n_cells - block.width, bins.max() + 1)]).astype(int)


@dataclass(frozen=True)
class SlotTrendSpec:
    """One temporal column's slots (``blocks``, slot k = block k), the attendance block, and a
    cell → group map of the column (None: cells as they are)."""

    blocks: tuple[CellBlock, ...]
    attendance: CellBlock
    groups: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{self.blocks[0].column.rsplit('@', 1)[0]} (slot x value)"

    def n_cells(self) -> int:
        return self.blocks[0].n_cells if self.groups is None else int(self.groups.max()) + 1

    def weights(self, rows: np.ndarray) -> np.ndarray:
        """(patients, slots): 1/√(slots attended) at each attended slot, else 0."""
        attended = visit_presence(self.attendance, len(self.blocks))[self.attendance.cells(rows)]
        n = attended.sum(axis=1, keepdims=True)
        return np.where(n > 0, attended / np.sqrt(np.where(n > 0, n, 1)), 0.0)

    def count(self, rows: np.ndarray) -> np.ndarray:
        """Exact (1, slots, cells) sums of ``rows`` (one per patient)."""
        shape = (1, len(self.blocks), self.n_cells())
        w = self.weights(rows)
        zeros = np.zeros(len(rows), dtype=int)
        counts = np.zeros(shape)
        for k, block in enumerate(self.blocks):
            cells = block.cells(rows) if self.groups is None else self.groups[block.cells(rows)]
            counts += cell_counts(shape, [zeros, np.full(len(rows), k), cells], w[:, k])
        return counts


def slot_trend_specs(slots: dict[str, tuple[CellBlock, ...]], attendance: CellBlock,
                     singles: list[TableSpec]) -> list[SlotTrendSpec]:
    """One spec per temporal column of two slots or more whose label table is pooled over visits
    (``singles``: the label stage's specs). Public metadata only."""
    pooled = {s.blocks[0].column for s in singles if s.pooled_by is not None and not s.visit_times}
    return [SlotTrendSpec(tuple(blocks), attendance, public_groups(blocks[0]))
            for blocks in slots.values() if len(blocks) >= 2 and blocks[0].column in pooled]


def slot_totals(attendance: CellBlock, slots: int, patterns: np.ndarray | None, n: float) -> np.ndarray:
    """Each slot's row total of a slot × value table, Σ over patterns of patients × 1/√(slots
    attended) where the slot is attended: from the released attendance estimate ``patterns``
    (None: every patient in the block's one pattern, as stated), and N. Post-processing."""
    presence = visit_presence(attendance, slots)
    counts = np.full(len(presence), n / len(presence)) if patterns is None else np.asarray(patterns, float).ravel()
    attended = presence.sum(axis=1, keepdims=True)
    weights = np.where(attended > 0, presence / np.sqrt(np.where(attended > 0, attended, 1)), 0.0)
    return np.maximum(counts @ weights, 1.0)


def shrunk(noisy: np.ndarray, totals: np.ndarray, sigma: float) -> np.ndarray:
    """Post-processing: each slot's distribution (row / its total) pulled towards the table's
    own pooled distribution by positive-part James-Stein (the slots' deviations from it, against
    their noise σ / total per cell), clipped at 0; returned as counts (rows × totals). At N ≈ 40
    the rows are mostly noise and come out near the pooled distribution; with more patients
    the slots' differences (the trend) are kept. σ = 0: the rows as they are, clipped."""
    rows = np.asarray(noisy, dtype=float)
    totals = np.asarray(totals, dtype=float)
    if sigma == 0:
        return np.clip(rows, 0, None)
    pooled = np.clip(rows.sum(axis=0), 0, None)
    pooled = pooled / pooled.sum() if pooled.sum() > 0 else np.full(rows.shape[1], 1.0 / rows.shape[1])
    deviation = rows / totals[:, None] - pooled
    noise = (rows.shape[1] - 1) * np.sum((sigma / totals) ** 2)  # expected Σ‖deviation‖² with no trend
    keep = max(0.0, 1.0 - noise / max(float(np.sum(deviation ** 2)), 1e-12))
    p = np.clip(pooled + keep * deviation, 0, None)
    p = p / np.where(p.sum(axis=1, keepdims=True) > 0, p.sum(axis=1, keepdims=True), 1)
    return p * totals[:, None]


def release_slot_trends(encoded: np.ndarray, specs: list[SlotTrendSpec], ledger: Ledger, rng: np.random.Generator,
                        share: float, label_steps: int, patterns: np.ndarray | None = None) -> list[MarginalTable]:
    """The tables at the σ of ``len(specs) + label_steps`` steps within ``share`` (the label
    stage's tables then get the same σ), recorded as one mechanism. Each is kept as (slots,
    cells) rows whose totals come from ``patterns`` (the released attendance estimate; None:
    attendance stated complete) and the ledger's N, so each slot's row is projected on its own."""
    if not specs:
        return []
    sigma = ledger_sigma(ledger, share, len(specs) + label_steps)
    out = []
    for spec in specs:
        noisy = noisy_counts(total(spec.count(encoded)), sigma, rng, f"table:{spec.name}")
        groups = (spec.groups,) * len(spec.blocks) if spec.groups is not None else ()
        totals = slot_totals(spec.attendance, len(spec.blocks), patterns, float(ledger.n_patients))
        out.append(MarginalTable(spec.blocks, shrunk(noisy[0], totals, sigma), groups, by_label=False,
                                 pooled_by=spec.attendance, sigma=sigma, totals=totals, over_slots=True))
    ledger.add(Mechanism("marginals:slot x value", sigma, 1.0, len(specs),
                         "Gaussian counts of each temporal column's values at each scheduled visit (weight "
                         "1/sqrt(visits attended) per visit)", {"tables": [s.name for s in specs]}))
    return out
