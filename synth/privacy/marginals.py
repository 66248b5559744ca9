"""Noisy marginal tables: Gaussian counts of (label, column cells) for the generator to match.

A table is a tuple of cell blocks (one column's bins or categories, see
:class:`synth.encode.CellBlock`), optionally with a block's cells merged into coarser groups, and
crossed with the label when ``by_label``. Every patient falls in exactly one cell of every table
(or, in a table pooled over visits, spreads weight 1 over the cells of their visits), so k
tables released together are k Gaussian mechanisms of L2 sensitivity 1: the ledger records
them as one Mechanism with ``steps = k`` at noise σ.

Notes
-----
The guarantee is void if a patient can add more than 1 to a table in total (pass one encoded
row per patient; a pooled table weights each of a patient's n visits by 1/n), or if the tables
are chosen by looking at the data outside the ledger (the default choice here uses only the
schema), or if a table's ``totals`` are not public or
already released (they are public N × the DP label proportions). Everything done with the noisy
tables afterwards (projecting, normalising, the generator's loss) is post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from synth.privacy.domain import PREP_SHARE
from synth.encode.table import CellBlock
from synth.privacy.ledger import Ledger, calibrate_sigma
from synth.privacy.smoothing import simplex_projection, smooth_row

__all__ = ["TableSpec", "cell_counts",
           "MarginalTable", "label_tables", "simplex_projection",
           "MARGINAL_SHARE"]

# Share of ε (and of the accountant's δ) for the marginal tables, on top of the preprocessing
# share; DP-SGD gets the rest (2%). Chosen once (bench/RESULTS.md, issue #5, items 4, 26 and
# 38), never per dataset: once the generator is fitted to the tables first, the tables are
# worth more than the discriminator's steps on every table measured.
MARGINAL_SHARE = 0.88
TABLE_STAGES = ("marginals:", "selection:", "sums:")  # ledger names of the releases after preprocessing


def cell_counts(shape: tuple[int, ...], indices: list[np.ndarray], weights: np.ndarray | None = None) -> np.ndarray:
    """A table of ``shape`` counting (or summing ``weights`` over) each row's cell, one index
    array per axis: one vectorized pass (``np.bincount`` on the flattened cell)."""
    flat = np.zeros(len(indices[0]), dtype=np.int64)
    for size, index in zip(shape, indices):
        flat = flat * size + np.asarray(index, dtype=np.int64)
    total = int(np.prod(shape))
    return np.bincount(flat, weights=weights, minlength=total).astype(float).reshape(shape)


@dataclass(frozen=True)
class TableSpec:
    """Which table to count: its blocks, each block's cell → group map (None: cells as they are)."""

    blocks: tuple[CellBlock, ...]
    groups: tuple[np.ndarray | None, ...] = ()
    by_label: bool = True
    # A pooled table (visit sequences): ``blocks`` are one column's visit slots, not a cross
    # product; a patient with n visits (``pooled_by``'s cell + 1) adds 1/n at each of its first n
    # slots' cells, so a patient's counts sum to 1 and their L2 norm is at most 1.
    pooled_by: CellBlock | None = None
    # A pooled numerical column's missing cell split by visit phase: slot k's missing value
    # counts in phase min(k, missing_phases − 1) (with 3: first visit, second, later), so a lab
    # measured only at some visits keeps that pattern. Each visit still adds to one cell.
    missing_phases: int = 0
    # Per-visit tables (visit sequences on a small public schedule): ``slots[i]`` is the visit
    # slot of block i (0: a patient-level block or the first visit, which every patient has);
    # a block of slot k ≥ 1 gets one more cell, "no visit k", where a patient with k visits or
    # fewer (``present_by``'s cell + 1 ≤ k; with an attendance pattern, one that missed slot k)
    # falls. Every patient is still in one cell.
    present_by: CellBlock | None = None
    slots: tuple[int, ...] = ()

    def absent(self, i: int) -> bool:
        """Whether block i has a "no visit" cell (a visit slot after the first)."""
        return self.present_by is not None and bool(self.slots) and self.slots[i] >= 1

    @property
    def phases(self) -> int:
        """Missing cells by visit phase of this table (0: one missing cell, or none)."""
        ok = self.pooled_by is not None and self.blocks[0].missing is not None and self.group(0) is None
        return self.missing_phases if ok and self.missing_phases > 1 else 0

    def group(self, i: int) -> np.ndarray | None:
        return self.groups[i] if self.groups else None

    def n_cells(self, i: int) -> int:
        g = self.group(i)
        if g is not None:
            return int(g.max()) + 1
        return self.blocks[i].n_cells + (self.phases - 1 if self.phases and i == 0 else 0) + int(self.absent(i))

    def cells(self, encoded: np.ndarray, i: int) -> np.ndarray:
        """Each row's cell of block i in this table (its group when the block is merged)."""
        idx = self.blocks[i].cells(encoded)
        if self.absent(i):
            by = self.present_by
            if by.presence is None:
                visits = by.cells(encoded) + 1
                idx = np.where(visits > self.slots[i], idx, self.blocks[i].n_cells)
            else:  # an attendance pattern: slot k attended or not
                attended = np.asarray(by.presence)[by.cells(encoded), self.slots[i]] > 0.5
                idx = np.where(attended, idx, self.blocks[i].n_cells)
        g = self.group(i)
        return idx if g is None else g[idx]

    @property
    def visit_times(self) -> bool:
        """A pooled table of the visit times (the first visit's time, then the gaps), not of one
        column's visit slots."""
        return self.pooled_by is not None and len({b.column.rsplit("@", 1)[0] for b in self.blocks}) > 1

    @property
    def name(self) -> str:
        if self.pooled_by is not None:
            missing = f", missing in {self.phases} visit phases" if self.phases else ""
            if self.visit_times:
                return f"{self.blocks[0].column.rsplit('@', 1)[0]} (first visit, then the gaps; pooled over visits)"
            return f"{self.blocks[0].column.rsplit('@', 1)[0]} (pooled over visits{missing})"
        return " x ".join(b.column for b in self.blocks)

    def shape(self, n_classes: int) -> tuple[int, ...]:
        cells = (self.n_cells(0),) if self.pooled_by is not None else tuple(
            self.n_cells(i) for i in range(len(self.blocks)))
        return (max(n_classes, 1) if self.by_label else 1, *cells)

    def count(self, rows: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
        """Exact counts (no noise) of ``rows`` (one per patient) with label indices ``labels``."""
        counts = np.zeros(self.shape(n_classes))
        by = labels if self.by_label else np.zeros(len(rows), dtype=int)
        if self.pooled_by is None:
            return cell_counts(counts.shape, [by, *(self.cells(rows, i) for i in range(len(self.blocks)))])
        if self.pooled_by.presence is None:
            visits = self.pooled_by.cells(rows) + 1
            attended = np.arange(len(self.blocks))[None, :] < visits[:, None]
        else:  # an attendance pattern: the slots attended, n of them
            attended = np.asarray(self.pooled_by.presence)[self.pooled_by.cells(rows)] > 0.5
            visits = attended.sum(axis=1)
        width = self.blocks[0].width
        for k in range(len(self.blocks)):
            present = attended[:, k]
            cells = self.cells(rows[present], k)
            if self.phases:  # the missing cell (index width) → that visit's phase
                cells = np.where(cells == width, width + min(k, self.phases - 1), cells)
            counts += cell_counts(counts.shape, [by[present], cells], 1.0 / visits[present])
        return counts


@dataclass
class MarginalTable:
    """Noisy counts with shape (n_classes, or 1 when not by label, cells of each block)."""

    blocks: tuple[CellBlock, ...]
    counts: np.ndarray
    groups: tuple[np.ndarray | None, ...] = ()
    by_label: bool = True
    totals: np.ndarray | None = None  # each row's known total (public N × DP proportions), if any
    pooled_by: CellBlock | None = None
    sigma: float = 0.0  # the Gaussian noise of each cell (0: exact)
    missing_phases: int = 0
    smooth: bool = False  # smooth ordered bins before projecting (synth.privacy.smoothing; post-processing)
    present_by: CellBlock | None = None
    slots: tuple[int, ...] = ()
    over_slot_pairs: bool = False  # a column at two slots, pooled over slot pairs (synth.release.slot_pairs)

    @property
    def spec(self) -> TableSpec:
        return TableSpec(self.blocks, self.groups, self.by_label, self.pooled_by, self.missing_phases,
                         self.present_by, self.slots)

    def merged_phases(self) -> MarginalTable:
        """Post-processing: this table with its missing cells by visit phase summed into one."""
        if not self.spec.phases:
            return self
        width = self.blocks[0].width
        counts = np.concatenate([self.counts[..., :width], self.counts[..., width:].sum(axis=-1, keepdims=True)],
                                axis=-1)
        return replace(self, counts=counts, missing_phases=0)

    @property
    def name(self) -> str:
        if self.over_slot_pairs:
            return f"{self.blocks[0].column.rsplit('@', 1)[0]} (slot j x slot k, pooled over slot pairs)"
        return self.spec.name

    def smoothable_cells(self) -> int:
        """How many leading cells are ordered bins that :func:`smooth_row` may smooth: a noisy
        one-column table (or one pooled over visits) at full resolution, not on groups, of a
        numerical column or the visit count; 0 otherwise."""
        one_column = len(self.blocks) == 1 or self.pooled_by is not None
        if self.smooth and self.sigma > 0 and one_column and not self.groups and self.blocks[0].ordered:
            return self.blocks[0].width
        return 0

    def conditional(self) -> np.ndarray:
        """Post-processing: each label value's distribution over the cells.

        With ``totals``, each noisy row is projected onto the non-negative counts with that
        total (the closest in L2), which zeroes cells whose count is within the noise of zero,
        after smoothing its ordered bins as much as Stein's unbiased risk estimate says pays
        (:mod:`synth.privacy.smoothing`, when ``smooth``; never for exact tables); without,
        counts are clipped at 0. A label value whose row is all zero gets the uniform
        distribution.
        """
        flat = self.counts.reshape(len(self.counts), -1)
        if self.totals is not None:
            if len(self.totals) != len(flat):
                raise ValueError(f"table {self.name}: {len(self.totals)} totals for {len(flat)} rows")
            ordered = self.smoothable_cells()
            flat = np.stack([smooth_row(row, self.sigma, float(t), ordered) if ordered
                             else simplex_projection(row, float(t)) for row, t in zip(flat, self.totals)])
        flat = np.clip(flat, 0, None)
        total = flat.sum(axis=1, keepdims=True)
        uniform = np.full_like(flat, 1.0 / flat.shape[1])
        return np.where(total > 0, flat / np.where(total > 0, total, 1), uniform).reshape(self.counts.shape)


def label_tables(blocks: list[CellBlock]) -> list[TableSpec]:
    """The default choice: one table per modelled column (label × column). Schema only."""
    return [TableSpec((b,)) for b in blocks]


def ledger_sigma(ledger: Ledger, share: float, steps: int) -> float:
    """σ for ``steps`` releases of sensitivity 1 bringing the ledger to (preprocessing + share) of ε and δ."""
    if ledger.no_guarantee:
        return 0.0
    spent_share = min(1.0, share + _prior_share(ledger))
    return calibrate_sigma(spent_share * ledger.target_epsilon, spent_share * ledger.accountant_delta,
                           sample_rate=1.0, steps=steps, prior=ledger.history())


def _prior_share(ledger: Ledger) -> float:
    """Share of ε assigned to preprocessing (0 when preprocessing released nothing)."""
    prep = [m for m in ledger.mechanisms if not m.name.startswith(TABLE_STAGES)]
    return PREP_SHARE if prep else 0.0
