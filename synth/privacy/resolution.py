"""Label tables at a resolution the noise allows: one or two stages, chosen from public N and σ.

Every label × column table has as many cells per label value as the column has cells (10 bins
for a numerical column). Its mean count per cell is N / (classes · cells); when that is below
``MIN_SIGNAL`` · σ, the table is mostly noise (a small trial: N = 250, three label values and
σ ≈ 35 at ε = 1 left a 10-bin table with about 8 patients a cell). Then the release has two
stages at one σ (calibrated for both, so larger than the single stage's):

1. every column's table without the label, at full resolution (the marginals);
2. every label × column table on at most ``cells`` groups of about equal mass, formed from
   stage 1's counts (post-processing; adjacent bins for a numerical column).

The choice reads only public N, the number of label values and the σ the ledger gives the
schema's number of tables, never the data: one stage when its σ allows full resolution,
otherwise two, with the cells that the two stages' σ allows.

Notes
-----
The guarantee is void if the groups of stage 2 are formed from anything but stage 1's released
counts, or if the resolution rule reads the data.
"""

from __future__ import annotations

import numpy as np

from synth.encode.sequence import MISSING_PHASES, SequenceEncoder
from synth.encode.table import NUMERIC_BINS
from synth.privacy.ledger import Ledger
from synth.privacy.marginals import MarginalTable, TableSpec, ledger_sigma
from synth.schema.sequence import gap_name, slot_name

__all__ = ["sequence_table_specs", "label_resolution", "full_resolution", "label_stage_steps",
           "coarse_groups", "MIN_SIGNAL", "PAIR_GROUPS"]

MIN_SIGNAL = 2.0  # a label table's mean count per cell should be at least this many σ
PAIR_GROUPS = 4  # groups per column in a pair table (synth.release.pair_tables)


def coarse_groups(table: MarginalTable, max_groups: int = PAIR_GROUPS, missing_apart: bool = True) -> np.ndarray | None:
    """Cell → group map of a one-block table's column, from its released counts; None: keep cells.

    A numerical column's bins are merged into groups of about equal released mass; its cells
    after the bins (missing, and a visit slot's "no visit") are one group of their own, or with
    ``missing_apart=False`` the last cells of the ordered run, so that a rarely missing column
    does not spend one of few groups on its missing values. A categorical column's cells (a
    visit slot's "no visit" among them) keep the largest ``max_groups − 1`` apart.
    """
    block = table.blocks[0]
    n_cells = table.spec.n_cells(0)
    if n_cells <= max_groups:
        return None
    mass = np.clip(table.counts, 0, None).reshape(len(table.counts), n_cells).sum(axis=0)
    if not block.ordered:
        keep = np.argsort(-mass, kind="stable")[:max_groups - 1]
        groups = np.full(n_cells, max_groups - 1)
        groups[keep] = np.arange(len(keep))
        return groups
    tail = n_cells - block.width
    apart = tail > 0 and missing_apart
    bins = max_groups - (1 if apart else 0)
    m = mass[:block.width] if apart else mass
    total = m.sum()
    mid = (np.cumsum(m) - m / 2) / total if total > 0 else (np.arange(len(m)) + 0.5) / len(m)
    groups = np.unique(np.minimum((mid * bins).astype(int), bins - 1), return_inverse=True)[1]
    return np.append(groups, np.full(tail, groups.max() + 1)) if apart else groups


def sequence_table_specs(encoder: SequenceEncoder, per_visit: bool = False) -> list[TableSpec]:
    """One table per patient block, in their order, then any per-visit tables.

    A temporal column's table is pooled over all its visit slots, and so are the visit times
    (the first visit's time, then each gap: one time step per visit; without it no table
    would hold the gaps, bench/RESULTS.md item 63). A nullable numerical temporal column's
    missing values are counted by visit phase (``MISSING_PHASES``): a lab measured at some
    scheduled visits only keeps that pattern.

    With ``per_visit`` (see :meth:`SequenceEncoder.per_visit_tables`), a temporal column has
    instead one table per visit slot: the first visit's, then slot k's (k ≥ 1) with a "no visit
    k" cell for patients with k visits or fewer, so every patient is in one cell of each table.
    The encoder's public layout only.
    """
    slots = {b.column: b for b in encoder.cell_blocks}
    (visits,) = [b for b in encoder.cell_blocks if b.column == encoder.visit_column]
    m = encoder.layout.max_visits
    pooled = {} if per_visit else {slot_name(c, 0): [slot_name(c, k) for k in range(m)]
                                   for c in encoder.layout.temporal}
    first_time = slot_name(encoder.layout.index, 0)
    if m > 1 and not encoder.layout.slots:  # on slots the times are the schedule's
        pooled[first_time] = [first_time] + [gap_name(k) for k in range(1, m)]
    specs = [TableSpec(tuple(slots[c] for c in pooled[b.column]), pooled_by=visits,
                       missing_phases=MISSING_PHASES if b.missing is not None else 0)
             if b.column in pooled else TableSpec((b,))
             for b in encoder.patient_cell_blocks()]
    if per_visit:
        specs += [TableSpec((slots[slot_name(c, k)],), present_by=visits, slots=(k,))
                  for k in range(1, m) for c in encoder.layout.temporal]
    return specs


def label_resolution(n: int, n_classes: int, sigma: float) -> int:
    """Cells per label value (2 … NUMERIC_BINS) whose mean count N / (classes · cells) is ≥ MIN_SIGNAL · σ."""
    if sigma == 0:
        return NUMERIC_BINS
    cells = int(n / (max(n_classes, 1) * MIN_SIGNAL * sigma))
    return int(min(NUMERIC_BINS, max(2, cells)))


def full_resolution(specs: list[TableSpec], released: int, n_classes: int, ledger: Ledger, share: float) -> bool:
    """Whether ``specs``, among ``released`` label tables released together in one stage within
    ``share``, would keep every cell: :func:`label_resolution` at the σ that many tables get,
    against each table's cells. Reads only the ledger's N (public or released) and the schema,
    like the stage choice below."""
    cells = label_resolution(ledger.n_patients, n_classes, ledger_sigma(ledger, share, released))
    return cells == NUMERIC_BINS or all(s.n_cells(0) <= cells for s in specs)


def label_stage_steps(specs: list[TableSpec], n_classes: int, ledger: Ledger, share: float, extra: int = 0) -> int:
    """How many Gaussian steps :func:`release_label_tables` would take for ``specs`` (their number,
    or twice it with two stages), were ``extra`` more steps at their σ released first within
    ``share``. Public N, the schema and the ledger only."""
    if not n_classes or label_resolution(ledger.n_patients, n_classes,
                                         ledger_sigma(ledger, share, len(specs) + extra)) == NUMERIC_BINS:
        return len(specs)
    cells = label_resolution(ledger.n_patients, n_classes, ledger_sigma(ledger, share, 2 * len(specs) + extra))
    return len(specs) if not any(s.n_cells(0) > cells for s in specs) else 2 * len(specs)
