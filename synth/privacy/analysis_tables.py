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
from synth.privacy.marginals import MarginalTable, TableSpec
from synth.schema.analysis import AnalysisDeclaration

__all__ = ["declared_table", "ANALYSIS_SHARE", "AnalysisMean", "analysis_specs", "mean_specs",
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
    and arm × time); a label table where the arm or a column is the fit's label. The joint table
    needs the label to be the arm or one of the pair (a table of three blocks not crossed with
    the label is not one the generator matches): with another label the pair gets two tables."""
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
            # not crossed with the label: the generator matches tables of at most two blocks, so a
            # pair whose columns are both blocks gets arm × event and arm × time
            for c in columns:
                spec = TableSpec((by_column[analysis.arm], by_column[c]), by_label=False)
                specs.setdefault(spec.name + f"|{spec.by_label}", spec)
            continue
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


def declared_table(tables: list, columns: tuple[str, ...]):
    """The released by-label table of exactly ``columns`` in that order (with the arm as the
    fit's class: arm × outcome, or arm × event × time), its first block at full resolution, not
    pooled over visits; None when the fit released none."""
    return next((t for t in tables if t.by_label and tuple(b.column for b in t.blocks) == tuple(columns)
                 and t.spec.group(0) is None and t.pooled_by is None and not t.slots), None)
