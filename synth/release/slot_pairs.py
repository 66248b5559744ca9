"""How a patient's values at one scheduled visit go with their values at the others.

On scheduled slots (:mod:`synth.schema.slots`), for each temporal column, one table of the
column at slot j against the same column at slot k, pooled over every pair of slots j < k that
the patient attended: a patient with n ≥ 2 attended slots adds 1 / (n(n−1)/2) to the cell of
each of their pairs, so their counts sum to 1 and their L2 norm is at most 1 (a patient with one
visit adds nothing). Not crossed with the label; numerical columns on the pair tables' coarse
groups (:func:`synth.privacy.resolution.coarse_groups`, from the released label tables). They
are released in the pair stage, at its σ, one Gaussian step each: the budget rule is that of
the pairs (:func:`synth.release.pair_tables.release_tables`), with these tables first.

The generator matches them as a whole (:func:`synth.models.slot_pair_loss.slot_pair_term`):
without them, nothing released says how strongly a patient's visits go together, and the
shared per-column noise across slots made them go together far more than the real ones
(bench/RESULTS.md, issue #48).

Notes
-----
What would void the guarantee: a patient adding more than 1 in total (pass one encoded row per
patient; the weights above), groups formed from anything but released tables, or noise from
anything but the fit's secret generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.encode.table import CellBlock, visit_presence
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MarginalTable, cell_counts, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.resolution import coarse_groups
from synth.release.shards import total

__all__ = ["SlotPairSpec", "slot_pair_specs", "release_slot_pairs"]


@dataclass(frozen=True)
class SlotPairSpec:
    """One temporal column's slots (``blocks``, slot k = block k), the attendance block, and a
    cell → group map of the column (None: cells as they are)."""

    blocks: tuple[CellBlock, ...]
    attendance: CellBlock
    groups: np.ndarray | None = None

    @property
    def name(self) -> str:
        return f"{self.blocks[0].column.rsplit('@', 1)[0]} (slot j x slot k, pooled over slot pairs)"

    def n_cells(self) -> int:
        return self.blocks[0].n_cells if self.groups is None else int(self.groups.max()) + 1

    def weights(self, rows: np.ndarray) -> np.ndarray:
        """(patients, slots, slots): each attended pair j < k's weight, 1 / (pairs attended)."""
        attended = visit_presence(self.attendance, len(self.blocks))[self.attendance.cells(rows)]
        both = np.triu(attended[:, :, None] * attended[:, None, :], k=1)
        pairs = both.sum(axis=(1, 2), keepdims=True)
        return np.where(pairs > 0, both / np.where(pairs > 0, pairs, 1), 0.0)

    def count(self, rows: np.ndarray) -> np.ndarray:
        """Exact (1, cells, cells) counts of ``rows`` (one per patient)."""
        n = self.n_cells()
        cells = [b.cells(rows) for b in self.blocks]
        if self.groups is not None:
            cells = [self.groups[c] for c in cells]
        w = self.weights(rows)
        counts = np.zeros((1, n, n))
        zeros = np.zeros(len(rows), dtype=int)
        for j in range(len(self.blocks)):
            for k in range(j + 1, len(self.blocks)):
                counts += cell_counts((1, n, n), [zeros, cells[j], cells[k]], w[:, j, k])
        return counts


def slot_pair_specs(slots: dict[str, tuple[CellBlock, ...]], attendance: CellBlock,
                    released: dict[str, MarginalTable]) -> list[SlotPairSpec]:
    """One spec per temporal column with two slots or more; a numerical column on the coarse
    groups of its released table (``released``: by the column's first slot). Released tables
    and the schema only."""
    out = []
    for column, blocks in slots.items():
        if len(blocks) < 2:
            continue
        table = released.get(blocks[0].column)
        groups = None
        if table is not None:
            merged = table.merged_phases()
            g = coarse_groups(merged) if merged.spec.n_cells(0) == blocks[0].n_cells else None
            groups = None if g is None else np.asarray(g)
        out.append(SlotPairSpec(tuple(blocks), attendance, groups))
    return out


def release_slot_pairs(encoded: np.ndarray, specs: list[SlotPairSpec], ledger: Ledger, rng: np.random.Generator,
                       share: float, other_pairs: int) -> list[MarginalTable]:
    """The tables at the σ of ``len(specs) + other_pairs`` tables released within ``share``
    (the pair stage's other tables then get the same σ), recorded as one mechanism."""
    if not specs:
        return []
    sigma = ledger_sigma(ledger, share, len(specs) + other_pairs)
    out = []
    for spec in specs:
        noisy = noisy_counts(total(spec.count(encoded)), sigma, rng, f"table:{spec.name}")
        groups = (spec.groups,) * len(spec.blocks) if spec.groups is not None else ()
        table = MarginalTable(spec.blocks, noisy, groups, by_label=False, pooled_by=spec.attendance, sigma=sigma,
                              over_slot_pairs=True)
        table.totals = np.array([max(float(noisy.sum()), 1.0)])  # post-processing of the release
        out.append(table)
    ledger.add(Mechanism("marginals:slot pairs", sigma, 1.0, len(specs),
                         "Gaussian counts of each temporal column at two scheduled visits, pooled over the "
                         "pairs of visits a patient attended", {"tables": [s.name for s in specs]}))
    return out


ENABLED = True  # research switch (bench/schedule.py's synth-no-slot-pairs arm); the shipped default is on
