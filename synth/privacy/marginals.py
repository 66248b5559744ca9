"""Noisy marginal tables: Gaussian counts of (label, column cells) for the generator to match.

A table is a tuple of cell blocks (one column's bins or categories, see
:class:`synth.encode.CellBlock`), crossed with the label when there is one. Every patient falls in
exactly one cell of every table, so k tables released together are k Gaussian mechanisms of L2
sensitivity 1: the ledger records them as one Mechanism with ``steps = k`` at noise σ.

Notes
-----
The guarantee is void if a patient can fall in more than one cell of a table (pass one encoded
row per patient), or if the tables are chosen by looking at the data outside the ledger (the
default choice here uses only the schema). Everything done with the noisy tables afterwards
(normalising, the generator's loss) is post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synth.domain import PREP_SHARE
from synth.encode import CellBlock
from synth.privacy.ledger import Ledger, Mechanism, calibrate_sigma
from synth.privacy.mechanisms import noisy_counts

__all__ = ["MarginalTable", "label_tables", "measure_tables", "release_marginals", "MARGINAL_SHARE"]

# Share of ε (and of the accountant's δ) for the marginal tables, on top of the preprocessing
# share; DP-SGD gets the rest. Chosen once (bench/RESULTS.md, issue #5), never per dataset.
MARGINAL_SHARE = 0.5


@dataclass
class MarginalTable:
    """Noisy counts with shape (n_classes or 1, cells of blocks[0], cells of blocks[1], …)."""

    blocks: tuple[CellBlock, ...]
    counts: np.ndarray

    @property
    def name(self) -> str:
        return " x ".join(b.column for b in self.blocks)

    def conditional(self) -> np.ndarray:
        """Post-processing: counts clipped at 0, normalised within each label value.

        A label value whose noisy row is all zero gets the uniform distribution.
        """
        flat = np.clip(self.counts.reshape(len(self.counts), -1), 0, None)
        total = flat.sum(axis=1, keepdims=True)
        uniform = np.full_like(flat, 1.0 / flat.shape[1])
        return np.where(total > 0, flat / np.where(total > 0, total, 1), uniform).reshape(self.counts.shape)


def label_tables(blocks: list[CellBlock]) -> list[tuple[CellBlock, ...]]:
    """The default choice: one table per modelled column (label × column). Schema only."""
    return [(b,) for b in blocks]


def measure_tables(
    encoded: np.ndarray,
    y: np.ndarray | None,
    n_classes: int,
    tables: list[tuple[CellBlock, ...]],
    sigma: float,
    rng: np.random.Generator,
) -> list[MarginalTable]:
    """Gaussian counts (noise σ per cell) of every table; record ``steps=len(tables)``.

    Privacy assumption: one encoded row per patient. Rows whose label is negative (a value not
    released by DP category discovery) are counted in no table, which only lowers sensitivity.
    """
    keep = np.ones(len(encoded), dtype=bool) if y is None or not n_classes else y >= 0
    rows = encoded[keep]
    labels = y[keep] if n_classes else np.zeros(len(rows), dtype=int)
    out = []
    for blocks in tables:
        shape = (max(n_classes, 1), *(b.n_cells for b in blocks))
        index = (labels, *(b.cells(rows) for b in blocks))
        counts = np.zeros(shape)
        np.add.at(counts, index, 1.0)
        out.append(MarginalTable(tuple(blocks), noisy_counts(counts, sigma, rng)))
    return out


def release_marginals(
    encoded: np.ndarray,
    y: np.ndarray | None,
    n_classes: int,
    tables: list[tuple[CellBlock, ...]],
    ledger: Ledger,
    rng: np.random.Generator,
    share: float = MARGINAL_SHARE,
) -> list[MarginalTable]:
    """Calibrate σ so the ledger so far plus these tables spend ``share`` more of ε; measure; record.

    With ε = ∞ the tables are exact (σ = 0). The ledger gets one Mechanism with one step per table.
    """
    if not tables:
        return []
    if ledger.no_guarantee:
        sigma = 0.0
    else:
        spent_share = min(1.0, share + _prior_share(ledger))
        sigma = calibrate_sigma(spent_share * ledger.target_epsilon, spent_share * ledger.accountant_delta,
                                sample_rate=1.0, steps=len(tables), prior=ledger.history())
    measured = measure_tables(encoded, y, n_classes, tables, sigma, rng)
    ledger.add(Mechanism("marginals:" + ("label x column" if n_classes else "column"), sigma, 1.0, len(tables),
                         "Gaussian counts of marginal tables the generator is trained to match",
                         {"tables": [t.name for t in measured]}))
    return measured


def _prior_share(ledger: Ledger) -> float:
    """Share of ε already assigned to preprocessing (0 when nothing was released)."""
    return PREP_SHARE if ledger.mechanisms else 0.0
