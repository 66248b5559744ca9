"""Two-way tables beyond the label: a DP choice of column pairs (MST-style), then their counts.

After the label × column tables are released (:mod:`synth.privacy.marginals`):

1. Coarsen (post-processing): each column's cells are merged into at most ``PAIR_GROUPS``
   groups of about equal mass according to its released table: adjacent bins for a numerical
   column (missing kept apart), the largest categories for a categorical one.
2. Score: for every pair of columns (a, b), the L1 distance between its true count table and
   the table the released label tables imply if a and b were independent given the label.
   One patient moves the true table by one in one cell, so a score moves by at most 1.
3. Select: k rounds of the exponential mechanism with parameter ε0, without replacement
   (P(pair) ∝ exp(ε0 · score / 2)). Each round is ε0-bounded-range, hence ε0²/8-zCDP
   (Cesar & Rogers 2021), whose Rényi curve α·ε0²/8 is exactly that of a Gaussian mechanism
   of sensitivity 1 and σ = 2/ε0 at sample rate 1: the ledger records the k rounds as such.
4. Measure: Gaussian counts of the k chosen pair tables (not crossed with the label).

Notes
-----
The guarantee is void if a score uses anything of the real data beyond that pair's count table
(the independence estimate must come from released tables and public N only), or if the groups
are formed from unreleased counts. Everything the generator does with the tables is
post-processing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from synth.encode.table import CellBlock
from synth.privacy import observe
from synth.privacy.class_sizes import NoisyCounts, combine_class_sizes, refine_patients, released_patients
from synth.privacy.accountant import EXPONENTIAL_AS_GAUSSIAN
from synth.privacy.ledger import N_REFINED, Ledger, Mechanism
from synth.privacy.marginals import MARGINAL_SHARE, MarginalTable, TableSpec, cell_counts, label_tables, ledger_sigma
from synth.release.marginals import Patients, release_label_tables, release_marginals
from synth.release.shards import total
from synth.privacy.resolution import PAIR_GROUPS, coarse_groups

__all__ = ["coarse_groups", "pair_scores", "pair_spec", "select_pairs", "release_tables", "TablePlan", "PAIR_GROUPS"]

# Parts of the marginal share (label tables, pair selection); the pair tables get the rest.
# Chosen once on ACTG175 (bench/RESULTS.md): the pair tables' accuracy barely matters.
LABEL_PART, SELECT_PART = 0.8, 0.1


def _grouped(conditional: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """(classes, cells) distributions summed into (classes, groups)."""
    if groups is None:
        return conditional
    return conditional @ np.eye(int(groups.max()) + 1)[groups]


def pair_scores(encoded: np.ndarray, specs: list[TableSpec], tables: dict[str, MarginalTable],
                class_sizes: np.ndarray) -> np.ndarray:
    """L1 distance of each pair's true counts from label-conditional independence (sensitivity 1).

    Privacy assumption: reads the real rows only through each pair's count table; the estimate
    uses the released ``tables`` (by column) and ``class_sizes`` (public N × DP proportions).
    """
    scores = np.empty(len(specs))
    cells: dict[tuple, np.ndarray] = {}  # each column's cells (on its groups) computed once

    def cells_of(spec: TableSpec, i: int) -> np.ndarray:
        g = spec.group(i)
        key = (spec.blocks[i].start, None if g is None else tuple(g))
        if key not in cells:
            cells[key] = spec.cells(encoded, i)
        return cells[key]

    for s, spec in enumerate(specs):
        a, b = spec.blocks
        pa = _grouped(tables[a.column].conditional().reshape(len(class_sizes), -1), spec.group(0))
        pb = _grouped(tables[b.column].conditional().reshape(len(class_sizes), -1), spec.group(1))
        expected = np.einsum("c,ci,cj->ij", class_sizes, pa, pb)
        true = total(cell_counts(expected.shape, [cells_of(spec, 0), cells_of(spec, 1)]))  # every rank's patients
        scores[s] = np.abs(true - expected).sum()
    return scores


def select_pairs(scores: np.ndarray, k: int, epsilon0: float, rng: np.random.Generator) -> list[int]:
    """k rounds of the exponential mechanism (ε0 each, sensitivity 1) without replacement.

    With ε0 = ∞ (no privacy) the k highest scores, best first.
    """
    chosen: list[int] = []
    available = np.ones(len(scores), dtype=bool)
    for _ in range(min(k, len(scores))):
        idx = np.flatnonzero(available)
        if math.isinf(epsilon0):
            pick = int(idx[np.argmax(scores[idx])])
        else:
            logits = 0.5 * epsilon0 * (scores[idx] - scores[idx].max())
            p = np.exp(logits)
            pick = int(rng.choice(idx, p=p / p.sum()))
            # each score moves by at most 1 (L-infinity): the exponential mechanism's sensitivity
            pick = observe.released("selection:pair", scores[idx].copy(), pick, 1.0, norm="max", sigma=2.0 / epsilon0)
        chosen.append(pick)
        available[pick] = False
    return chosen


def pair_spec(a: TableSpec, b: TableSpec, groups_a: np.ndarray | None, groups_b: np.ndarray | None) -> TableSpec:
    """The pair table of two one-column tables' columns, not crossed with the label; a visit
    slot's column keeps its "no visit" cell (a per-visit table's ``slots``)."""
    slot_a, slot_b = (s.slots[0] if s.slots else 0 for s in (a, b))
    if not (slot_a or slot_b):
        return TableSpec((a.blocks[0], b.blocks[0]), (groups_a, groups_b), by_label=False)
    return TableSpec((a.blocks[0], b.blocks[0]), (groups_a, groups_b), by_label=False,
                     present_by=a.present_by or b.present_by, slots=(slot_a, slot_b))


@dataclass
class TablePlan:
    """Which tables :func:`release_tables` releases, within what share of ε: all public (the
    options, the encoder's blocks, earlier DP releases).

    ``singles`` (default :func:`label_tables` of ``blocks``) are the label tables, one per block
    in the same order: a visit sequence's temporal column has a table pooled over visits, or,
    on a short public schedule, its first visit's table here and one per later visit slot
    after the blocks' (:class:`~synth.privacy.marginals.TableSpec`'s ``slots``). Pairs are
    chosen among all of their columns; ``n_pairs`` of them (default: one fewer than the label
    tables, as many as the edges of MST's tree).

    ``smooth`` marks the label tables (and stage 1's) for :mod:`synth.privacy.smoothing`, so
    that their distributions, pair selection's independence estimate included, are smoothed.

    ``label_counts``: the released label counts, combined with the label tables' row sums
    (:func:`synth.privacy.class_sizes.combine_class_sizes`).

    ``slot_pairs`` (scheduled slots, :mod:`synth.release.slot_pairs`) releases its tables first
    in the pair stage, given the full-resolution tables by column, the number of pairs to
    choose and ``share``; they and the chosen pairs get one σ.
    """

    n_classes: int
    blocks: list[CellBlock]
    label_proportions: list[float]
    share: float = MARGINAL_SHARE
    n_pairs: int | None = None
    singles: list[TableSpec] | None = None
    label_counts: NoisyCounts | None = None
    smooth: bool = False
    slot_pairs: Callable[[dict[str, MarginalTable], int, float], list[MarginalTable]] | None = None


def release_tables(encoded: np.ndarray, y: np.ndarray | None, plan: TablePlan, ledger: Ledger,
                   rng: np.random.Generator) -> tuple[list[MarginalTable], list[float]]:
    """Label × column tables, then ``plan.n_pairs`` DP-chosen pair tables, within ``plan.share``
    of ε after preprocessing (:class:`TablePlan`).

    Privacy: ``encoded``/``y`` are the real patients (this rank's shard); every look at them is
    a mechanism in ``ledger`` drawn from the secret ``rng``. Ledger entries: the label tables
    (``marginals:label x column``, or with few patients ``marginals:column`` then
    ``marginals:label x column (at most g groups)``, see :mod:`synth.privacy.resolution`),
    ``selection:pairs``, ``marginals:pairs``.

    Returns the tables and the label proportions: ``plan.label_proportions`` as given, or, with
    the released ``plan.label_counts``, their combination with the label tables' row sums, which
    also become those tables' totals and the class sizes of pair selection.
    """
    specs = label_tables(plan.blocks) if plan.singles is None else plan.singles
    if [s.blocks[0] for s in specs[:len(plan.blocks)]] != list(plan.blocks):
        raise ValueError("one label table per block, in the blocks' order (then any per-visit tables)")
    patients = Patients(encoded, y, plan.n_classes)
    singles, full, class_sizes, proportions = _release_label_stage(patients, specs, plan, ledger, rng)
    k = len(specs) - 1 if plan.n_pairs is None else plan.n_pairs
    if k <= 0 or len(specs) < 2:
        return singles, proportions
    if not full[0].by_label:  # two stages: independence is judged from the unlabelled marginals
        class_sizes = np.array([float(ledger.n_patients)])
    return singles + _release_pair_stage(patients, specs, full, class_sizes, k, plan, ledger, rng), proportions


def _release_label_stage(patients: Patients, specs: list[TableSpec], plan: TablePlan, ledger: Ledger,
                         rng: np.random.Generator):
    """The label tables (and the full-resolution ones of a two-stage release), the class sizes and
    the label proportions; N refined from every release that counts it (post-processing)."""
    n_classes = plan.n_classes
    fractions = np.asarray(plan.label_proportions) if n_classes and plan.label_proportions else np.ones(1)
    class_sizes = ledger.n_patients * fractions  # public N × DP label proportions
    singles, full = release_label_tables(patients, specs, class_sizes, ledger, rng, LABEL_PART * plan.share)
    for table in {id(t): t for t in singles + full}.values():  # before anything reads them (pair scores too)
        table.smooth = plan.smooth
    n_release = released_patients(ledger)
    if n_classes and plan.label_counts is not None:
        class_sizes = combine_class_sizes(plan.label_counts, singles, n_release or ledger.n_patients)
        for table in singles:
            if table.by_label:
                table.totals = class_sizes
        refined = float(class_sizes.sum())
    else:
        refined = refine_patients(n_release, singles) if n_release is not None else None
    if n_release is not None and refined is not None:  # post-processing: N from every release that counts it
        ledger.n_patients = max(1, int(round(refined)))
        ledger.n_patients_source = ledger.n_patients_source if ledger.no_guarantee else N_REFINED
        for table in singles:
            if not table.by_label and table.totals is not None:
                table.totals = np.array([refined])
        if not n_classes:
            class_sizes = np.array([refined])
    proportions = (class_sizes / class_sizes.sum()).tolist() if n_classes and class_sizes.sum() > 0 else list(
        plan.label_proportions)
    return singles, full, class_sizes, proportions


def _release_pair_stage(patients: Patients, specs: list[TableSpec], full: list[MarginalTable],
                        class_sizes: np.ndarray, k: int, plan: TablePlan, ledger: Ledger,
                        rng: np.random.Generator) -> list[MarginalTable]:
    """``k`` pairs chosen by the exponential mechanism, then the slot pairs' and the chosen pairs' tables."""
    full = [t.merged_phases() for t in full]
    by_column = {t.blocks[0].column: t for t in full}  # a pooled table stands in for its first visit
    groups = [coarse_groups(t) for t in full]
    specs = [pair_spec(specs[i], specs[j], groups[i], groups[j]) for i, j in combinations(range(len(specs)), 2)]
    k = min(k, len(specs))
    scores = pair_scores(patients.encoded, specs, by_column, class_sizes)
    sigma = ledger_sigma(ledger, (LABEL_PART + SELECT_PART) * plan.share, k)
    epsilon0 = math.inf if sigma == 0 else 2.0 / sigma
    chosen = [specs[i] for i in select_pairs(scores, k, epsilon0, rng)]
    ledger.add(Mechanism("selection:pairs", sigma, 1.0, k,
                         "exponential mechanism (eps0 = 2/sigma per round) choosing column pairs far from "
                         "label-conditional independence; eps0-bounded-range = eps0^2/8-zCDP, recorded as "
                         "the Gaussian mechanism with the same Renyi curve",
                         {"epsilon0": None if math.isinf(epsilon0) else epsilon0,
                          "pairs": [s.name for s in chosen]}, kind=EXPONENTIAL_AS_GAUSSIAN))
    across = [] if plan.slot_pairs is None else plan.slot_pairs(by_column, len(chosen), plan.share)
    pairs = release_marginals(patients, chosen, ledger, rng, plan.share, name="pairs",
                              totals=np.array([float(ledger.n_patients)]))
    return across + pairs
