"""The marginal tables' releases: Gaussian counts of the encoded patients, in one or two stages.

The tables (:class:`synth.privacy.marginals.TableSpec`) are chosen from the schema; here they are
counted on the encoded rows (one per patient) and the noise is added (:func:`measure_tables`),
σ is calibrated and the ledger records them (:func:`release_marginals`), and the label tables go
out at the resolution the noise allows (:func:`release_label_tables`, the rule in
:mod:`synth.privacy.resolution`).

Notes
-----
The guarantee is void if a patient can add more than 1 to a table in total (pass one encoded
row per patient; a pooled table weights each of a patient's n visits by 1/n), if a table's
``totals`` are not public or already released, or if stage 2's groups are formed from anything
but stage 1's released counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from synth.encode.table import NUMERIC_BINS
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MARGINAL_SHARE, MarginalTable, TableSpec, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.resolution import coarse_groups, label_resolution
from synth.release.shards import total

__all__ = ["Patients", "measure_tables", "release_marginals", "release_label_tables"]


@dataclass(frozen=True, eq=False)
class Patients:
    """The real patients a release counts: their encoded rows, one per patient (this rank's shard
    over several processes), their labels' indices (negative: a value not released, counted in
    no table) and the public number of classes (0: no label). Real data: every look at it is a
    mechanism in the ledger."""

    encoded: np.ndarray
    y: np.ndarray | None
    n_classes: int


def measure_tables(
    encoded: np.ndarray,
    y: np.ndarray | None,
    n_classes: int,
    tables: list[TableSpec],
    sigma: float,
    rng: np.random.Generator,
) -> list[MarginalTable]:
    """Gaussian counts (noise σ per cell) of every table; record ``steps=len(tables)``.

    Privacy assumption: one encoded row per patient (a pooled table spreads a patient's one
    count over their visits, see :class:`TableSpec`). Rows whose label is negative (a value not
    released by DP category discovery) are counted in no table, which only lowers sensitivity.
    """
    keep = np.ones(len(encoded), dtype=bool) if y is None or not n_classes else y >= 0
    rows = encoded[keep]
    labels = y[keep] if n_classes else np.zeros(len(rows), dtype=int)
    out = []
    for spec in tables:
        counts = total(spec.count(rows, labels, n_classes))  # every rank's patients, before the noise
        noisy = noisy_counts(counts, sigma, rng, f"table:{spec.name}")
        out.append(MarginalTable(spec.blocks, noisy, spec.groups, spec.by_label,
                                 pooled_by=spec.pooled_by, sigma=sigma, missing_phases=spec.missing_phases,
                                 present_by=spec.present_by, slots=spec.slots))
    return out


def release_marginals(
    patients: Patients,
    tables: list[TableSpec],
    ledger: Ledger,
    rng: np.random.Generator,
    share: float = MARGINAL_SHARE,
    *,
    name: str | None = None,
    totals: np.ndarray | None = None,
    sigma: float | None = None,
) -> list[MarginalTable]:
    """Calibrate σ so the ledger so far plus these tables spend ``share`` more of ε; measure; record.

    ``share`` counts from the end of preprocessing: releases after preprocessing that are
    already in the ledger are inside it. With ε = ∞ the tables are exact (σ = 0). The ledger
    gets one Mechanism with one step per table. A given ``sigma`` (one calibrated for several
    releases together by :func:`ledger_sigma`) is used as it is: the ledger still records it.
    """
    if not tables:
        return []
    sigma = ledger_sigma(ledger, share, len(tables)) if sigma is None else sigma
    measured = measure_tables(patients.encoded, patients.y, patients.n_classes, tables, sigma, rng)
    for table in measured:
        table.totals = None if totals is None else np.asarray(totals, dtype=float)
    name = name or ("label x column" if patients.n_classes else "column")
    ledger.add(Mechanism("marginals:" + name, sigma, 1.0, len(tables),
                         "Gaussian counts of marginal tables the generator is trained to match",
                         {"tables": [t.name for t in measured]}))
    return measured


def release_label_tables(
    patients: Patients,
    specs: list[TableSpec],
    class_sizes: np.ndarray,
    ledger: Ledger,
    rng: np.random.Generator,
    share: float,
) -> tuple[list[MarginalTable], list[MarginalTable]]:
    """(tables for the generator, full-resolution tables aligned with ``specs`` for pair selection).

    One stage: the label tables themselves, both times. Two stages (``label_resolution`` below
    NUMERIC_BINS): stage 1's unlabelled tables serve pair selection; the generator gets both.
    Ledger: ``marginals:label x column``, or ``marginals:column`` then
    ``marginals:label x column (at most g groups)``.
    """
    n_classes = patients.n_classes
    one_stage = not n_classes or label_resolution(
        ledger.n_patients, n_classes, ledger_sigma(ledger, share, len(specs))) == NUMERIC_BINS
    if not one_stage:
        sigma = ledger_sigma(ledger, share, 2 * len(specs))
        cells = label_resolution(ledger.n_patients, n_classes, sigma)
        one_stage = not any(s.n_cells(0) > cells for s in specs)
    if one_stage:
        tables = release_marginals(patients, specs, ledger, rng, share, totals=class_sizes)
        return tables, tables
    n = np.array([float(ledger.n_patients)])
    marginals = release_marginals(patients, [replace(s, by_label=False) for s in specs], ledger, rng, share,
                                  name="column", totals=n, sigma=sigma)
    grouped = []
    for spec, table in zip(specs, marginals):  # the label stage counts missing values in one cell
        groups = coarse_groups(table.merged_phases(), cells, missing_apart=False)
        spec = replace(spec, missing_phases=0)
        grouped.append(spec if groups is None else replace(spec, groups=(groups,) * len(spec.blocks)))
    labelled = release_marginals(patients, grouped, ledger, rng, share,
                                 name=f"label x column (at most {cells} groups)", totals=class_sizes, sigma=sigma)
    return marginals + labelled, marginals
