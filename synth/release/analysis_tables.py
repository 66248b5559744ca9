"""The declared analysis's releases: its tables and each numerical outcome's sums by arm.

Which tables and sums (:func:`synth.privacy.analysis_tables.analysis_specs`,
:func:`~synth.privacy.analysis_tables.mean_specs`) is read off the public declaration and the
schema; here they are counted on the encoded rows, one per patient, and released at one σ.

Notes
-----
What would void the guarantee: a table that counts a patient more than once, or a sum to which
a patient adds more than 1 in absolute value (each outcome is read as 2u − 1 on its [0, 1]
scale, clipped).
"""

from __future__ import annotations

import numpy as np

from synth.encode.table import CellBlock
from synth.privacy.analysis_tables import AnalysisMean
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MarginalTable, TableSpec, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.release.marginals import Patients, release_marginals
from synth.release.shards import total

__all__ = ["release_analysis_tables"]


def _unit_values(encoded: np.ndarray, block: CellBlock) -> tuple[np.ndarray, np.ndarray]:
    """(2u − 1 for each row, whether the row has a value) from the encoder's bins and offset."""
    bins = encoded[:, block.start:block.start + block.width].argmax(axis=1)
    offset = encoded[:, block.start + block.width]
    u = (bins + (offset + 1) / 2) / block.width  # the encoder: NUMERIC_BINS bins, then the offset
    present = np.ones(len(encoded), dtype=bool) if block.missing is None else encoded[:, block.missing + 1] < 0.5
    values = 2 * u - 1
    present &= np.isfinite(values)  # a value that cannot be read adds nothing (never NaN into a sum)
    return np.clip(np.nan_to_num(values), -1, 1), present


def release_analysis_tables(patients: Patients, specs: list[TableSpec], ledger: Ledger, rng: np.random.Generator,
                            share: float, class_sizes: np.ndarray,
                            means: list[tuple[CellBlock, CellBlock | None]] = ()
                            ) -> tuple[list[MarginalTable], list[AnalysisMean]]:
    """Release ``specs`` and the sums of ``means`` at one σ, so that the releases after
    preprocessing reach ``share`` of ε in all; ledger entries ``marginals:analysis`` (one step a
    table) and ``sums:analysis`` (one step an outcome's sums by arm)."""
    sigma = ledger_sigma(ledger, share, len(specs) + len(means))
    encoded, y, n_classes = patients.encoded, patients.y, patients.n_classes
    tables = release_marginals(patients, specs, ledger, rng, share, name="analysis", sigma=sigma)
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
