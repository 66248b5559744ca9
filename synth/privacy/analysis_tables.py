"""The declared analysis's tables: arm × each outcome, released at a stated share of ε.

When the metadata declares the trial's analysis (``synth_analysis``: the arm, the outcomes,
the time-to-event pairs; :mod:`synth.schema.analysis`), the fit spends :data:`ANALYSIS_SHARE`
of ε on exactly the tables that analysis reads, one per (arm, outcome): the arm crossed with the
outcome's cells (a binary outcome's two, a numerical outcome's bins), and for a time-to-event
pair the arm crossed with the event and the time's bins (one table: the Cox model reads the
three together). Where the arm (or the
outcome) is the fit's label, the table is the label table of the other column.

A table that has the same cells as one the generator already matches (the label table of the
outcome when the arm is the label) is not matched twice: the two independent Gaussian releases
of the same counts are combined by inverse-variance weighting (post-processing: the best linear
unbiased estimate from the two), and the combination replaces that table. Otherwise the table
is added to the generator's tables.

Notes
-----
What would void the guarantee: a table that counts a patient more than once (each is one
encoded row per patient, one cell each, as every marginal table), or a choice of tables read off
the data; the choice here reads the public declaration and the schema only.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from synth.encode.table import CellBlock
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MarginalTable, TableSpec, ledger_sigma, release_marginals
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.shards import total
from synth.schema.analysis import AnalysisDeclaration

__all__ = ["ANALYSIS_SHARE", "AnalysisMean", "analysis_specs", "mean_specs", "release_analysis_tables",
           "combine_releases"]

# Share of ε for the declared analysis's tables, taken out of the marginal tables' share
# (bench/RESULTS.md, issue 46): the arm × outcome tables get it; every other table the rest.
ANALYSIS_SHARE = 0.3
# A time-to-event pair's table: arm × event × time (the Cox model reads their joint), or the
# two tables arm × event and arm × time (bench/analysis.py --tte-split measures the difference).
JOINT_TIME_TO_EVENT = True


def analysis_specs(analysis: AnalysisDeclaration, blocks: list[CellBlock], label: str | None) -> list[TableSpec]:
    """The tables the declared analysis reads (schema only): arm × each outcome, and for each
    time-to-event pair arm × event × time (with :data:`JOINT_TIME_TO_EVENT`; else arm × event
    and arm × time); a label table where the arm or a column is the fit's label."""
    by_column = {b.column: b for b in blocks}
    groups: list[tuple[str, ...]] = [(c,) for c in analysis.outcomes]
    for pair in analysis.time_to_event:
        groups += [(pair.event, pair.time)] if JOINT_TIME_TO_EVENT else [(pair.event,), (pair.time,)]
    specs: dict[str, TableSpec] = {}
    for columns in groups:
        columns = tuple(c for c in columns if c != analysis.arm)
        if not columns:
            continue
        if label == analysis.arm and all(c in by_column for c in columns):
            spec = TableSpec(tuple(by_column[c] for c in columns))
        elif len(columns) == 1 and label == columns[0] and analysis.arm in by_column:
            spec = TableSpec((by_column[analysis.arm],))
        elif analysis.arm in by_column and all(c in by_column for c in columns):
            spec = TableSpec((by_column[analysis.arm], *(by_column[c] for c in columns)), by_label=False)
        elif len(columns) == 2 and label in columns and analysis.arm in by_column:
            other = by_column.get(columns[1] if label == columns[0] else columns[0])
            if other is None:
                continue
            spec = TableSpec((by_column[analysis.arm], other))  # label × arm × the pair's other column
        else:
            continue  # a column the fit does not model (it is neither a block nor the label)
        specs.setdefault(spec.name + f"|{spec.by_label}", spec)
    return list(specs.values())


@dataclass
class AnalysisMean:
    """A numerical outcome's noisy sums by arm, for the mean the effect is computed from.

    ``sums[a]`` is Σ (2u − 1) over arm a's patients with a value, u the value on the column's
    [0, 1] scale (clipped to its range): each patient adds at most 1 in absolute value to one
    arm's sum, so the vector's L2 sensitivity is 1. ``arm`` is the arm's cell block, or None
    when the arm is the fit's label (the arms are then the label's values).
    """

    outcome: CellBlock
    arm: CellBlock | None
    sums: np.ndarray
    sigma: float


def mean_specs(analysis: AnalysisDeclaration, blocks: list[CellBlock], label: str | None
               ) -> list[tuple[CellBlock, CellBlock | None]]:
    """(outcome block, arm block or None for the label) of each numerical outcome (schema only)."""
    by_column = {b.column: b for b in blocks}
    out = []
    for column in analysis.outcomes:
        block = by_column.get(column)
        if block is None or not block.ordered or column == analysis.arm:
            continue
        if label == analysis.arm:
            out.append((block, None))
        elif analysis.arm in by_column:
            out.append((block, by_column[analysis.arm]))
    return out


def _unit_values(encoded: np.ndarray, block: CellBlock) -> tuple[np.ndarray, np.ndarray]:
    """(2u − 1 for each row, whether the row has a value) from the encoder's bins and offset."""
    bins = encoded[:, block.start:block.start + block.width].argmax(axis=1)
    offset = encoded[:, block.start + block.width]
    u = (bins + (offset + 1) / 2) / block.width  # the encoder: NUMERIC_BINS bins, then the offset
    present = np.ones(len(encoded), dtype=bool) if block.missing is None else encoded[:, block.missing + 1] < 0.5
    values = 2 * u - 1
    present &= np.isfinite(values)  # a value that cannot be read adds nothing (never NaN into a sum)
    return np.clip(np.nan_to_num(values), -1, 1), present


def release_analysis_tables(encoded: np.ndarray, y: np.ndarray | None, n_classes: int, specs: list[TableSpec],
                            ledger: Ledger, rng: np.random.Generator, share: float, class_sizes: np.ndarray,
                            means: list[tuple[CellBlock, CellBlock | None]] = ()
                            ) -> tuple[list[MarginalTable], list[AnalysisMean]]:
    """Release ``specs`` and the sums of ``means`` at one σ, so that the releases after
    preprocessing reach ``share`` of ε in all; ledger entries ``marginals:analysis`` (one step a
    table) and ``sums:analysis`` (one step an outcome's sums by arm)."""
    sigma = ledger_sigma(ledger, share, len(specs) + len(means))
    tables = release_marginals(encoded, y, n_classes, specs, ledger, rng, share, name="analysis", sigma=sigma)
    for table in tables:
        table.totals = (np.asarray(class_sizes, dtype=float) if table.by_label
                        else np.array([float(ledger.n_patients)]))
    released = []
    labelled = np.ones(len(encoded), dtype=bool) if y is None or not n_classes else y >= 0
    for outcome, arm in means:
        values, present = _unit_values(encoded, outcome)
        keep = present & labelled
        arms = y[keep] if arm is None else arm.cells(encoded[keep])
        n_arms = n_classes if arm is None else arm.n_cells
        sums = total(np.bincount(arms, weights=values[keep], minlength=n_arms).astype(float))
        name = f"sum:{outcome.column} by arm"
        released.append(AnalysisMean(outcome, arm, noisy_counts(sums, sigma, rng, name), sigma))
    if means:
        ledger.add(Mechanism("sums:analysis", sigma, 1.0, len(means),
                             "Gaussian sums by arm of each numerical outcome (2u - 1 on its [0, 1] scale: "
                             "sensitivity 1), for the arm's effect on its mean",
                             {"outcomes": [m.outcome.column for m in released]}))
    return tables, released


def _same_cells(a: MarginalTable, b: MarginalTable) -> bool:
    return (a.by_label == b.by_label and a.counts.shape == b.counts.shape and not a.groups and not b.groups
            and a.pooled_by is None and b.pooled_by is None and not a.slots and not b.slots
            and [(x.start, x.width, x.missing) for x in a.blocks] == [(x.start, x.width, x.missing) for x in b.blocks])


def combine_releases(tables: list[MarginalTable], analysis: list[MarginalTable]) -> list[MarginalTable]:
    """The generator's tables with the analysis tables in: each combined, by inverse-variance
    weighting, with a table of the same cells already there, or else added (post-processing)."""
    out = list(tables)
    for extra in analysis:
        match = next((i for i, t in enumerate(out) if _same_cells(t, extra)), None)
        if match is None:
            out.append(extra)
            continue
        old = out[match]
        if old.sigma == 0 or extra.sigma == 0:  # exact (ε = ∞): the same counts
            continue
        w_old, w_new = 1 / old.sigma ** 2, 1 / extra.sigma ** 2
        counts = (w_old * old.counts + w_new * extra.counts) / (w_old + w_new)
        merged = MarginalTable(old.blocks, counts, old.groups, old.by_label, old.totals, old.pooled_by,
                               float((w_old + w_new) ** -0.5), old.missing_phases, old.smooth, old.present_by,
                               old.slots)
        out[match] = merged
    return out
