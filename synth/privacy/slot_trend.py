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
from synth.privacy.marginals import MarginalTable, TableSpec, cell_counts, release_marginals
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.shards import total

__all__ = ["SlotTrendSpec", "release_stage_one", "pooled_from", "eligible", "public_groups", "shrunk", "slot_totals",
           "ENABLED"]

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


def eligible(spec: TableSpec) -> bool:
    """Whether a stage-1 table is a temporal column pooled over scheduled slots (an attendance
    pattern's ``presence``), not the visit times: the schema only."""
    by = spec.pooled_by
    return ENABLED and by is not None and by.presence is not None and len(spec.blocks) >= 2 and not spec.visit_times


def pooled_from(noisy: np.ndarray, totals: np.ndarray, spec: TableSpec, sigma: float, n: float) -> MarginalTable:
    """Post-processing: the pooled table of ``spec`` (one patient's visits weighing 1 in all)
    from a slot × value release: the slots' rows summed and scaled to N (exact when every
    patient attended as many slots; else patients with more visits weigh a little more), a
    numerical column's missing cell split by visit phase as the pooled table's is."""
    scale = n / max(float(np.sum(totals)), 1e-9)
    rows = scale * np.asarray(noisy, dtype=float)
    width, phases = spec.blocks[0].width, spec.phases
    if phases:
        missing = [rows[[k for k in range(len(rows)) if min(k, phases - 1) == p], width].sum() for p in range(phases)]
        counts = np.concatenate([rows[:, :width].sum(axis=0), missing])
    else:
        counts = rows.sum(axis=0)
    return MarginalTable(spec.blocks, counts[None], by_label=False, totals=np.array([n]), pooled_by=spec.pooled_by,
                         sigma=scale * sigma * np.sqrt(len(rows)), missing_phases=spec.missing_phases)


def release_stage_one(encoded: np.ndarray, y: np.ndarray | None, n_classes: int, specs: list[TableSpec],
                      ledger: Ledger, rng: np.random.Generator, share: float, sigma: float,
                      patterns: np.ndarray | None) -> tuple[list[MarginalTable], list[MarginalTable]]:
    """Stage 1 of a two-stage label release (unlabelled ``specs``, one step each at ``sigma``),
    each pooled slot column's table released as its slot × value table instead (the same step):
    (tables aligned with ``specs``, the pooled ones derived, :func:`pooled_from`; the slot ×
    value tables for the generator). Rows whose label is negative count nowhere, as in
    :func:`synth.privacy.marginals.measure_tables`. ``patterns``: the released attendance
    estimate (None: stated complete)."""
    n = float(ledger.n_patients)
    plain = iter(release_marginals(encoded, y, n_classes, [s for s in specs if not eligible(s)], ledger, rng, share,
                                   name="column", totals=np.array([n]), sigma=sigma))
    rows = encoded if y is None or not n_classes else encoded[np.asarray(y) >= 0]
    aligned, trends = [], []
    for spec in specs:
        if not eligible(spec):
            aligned.append(next(plain))
            continue
        trend = SlotTrendSpec(spec.blocks, spec.pooled_by)
        noisy = noisy_counts(total(trend.count(rows)), sigma, rng, f"table:{trend.name}")[0]
        totals = slot_totals(spec.pooled_by, len(spec.blocks), patterns, n)
        aligned.append(pooled_from(noisy, totals, spec, sigma, n))
        groups = public_groups(spec.blocks[0])
        kept = shrunk(noisy, totals, sigma)
        kept = kept if groups is None else kept @ np.eye(int(groups.max()) + 1)[groups]
        trends.append(MarginalTable(spec.blocks, kept, () if groups is None else (groups,) * len(spec.blocks),
                                    by_label=False, pooled_by=spec.pooled_by, sigma=sigma, totals=totals,
                                    over_slots=True))
    if trends:
        ledger.add(Mechanism("marginals:slot x value", sigma, 1.0, len(trends),
                             "Gaussian counts of each temporal column's values at each scheduled visit (weight "
                             "1/sqrt(visits attended) per visit), in place of its pooled stage-1 table",
                             {"tables": [t.name for t in trends]}))
    return aligned, trends
