"""The attendance table of scheduled visits as slots: which scheduled visits patients attended.

On a stated schedule (:mod:`synth.schema.slots`) each patient has one attendance pattern, so
the table of patterns (2^(K−1) cells, not crossed with the label) is a Gaussian mechanism of
L2 sensitivity 1: one patient adds 1 to one cell. It is released before the label tables and
costs as much as one of them (its σ is theirs, calibrated with them in the ledger): a public
constant, not a rule on the released N, whose noise at the N of small trials moved the choice
and with it every label table's σ from one fit to the next.

The estimator (post-processing of the noisy counts, the public or released N and σ only)
keeps a concentrated table concentrated: cells under z·σ are zeroed, with z such that an
empty cell survives with probability ``FALSE_KEEP`` / cells (as the bounds' histograms do,
:func:`synth.privacy.mechanisms._kept`), the largest cell is always kept, and the survivors
are projected onto the non-negative counts summing to N. When every patient attended every
slot, the release says so unless the complete cell's noise pulls it under a noise cell's.
A trial whose protocol reports complete attendance states it instead
(``"attendance": "complete"``): then nothing is released.

Notes
-----
What would void the guarantee: counting a patient in more than one cell (pass one encoded row
per patient), noise from anything but the fit's secret generator, or an estimate that reads
the true counts; a ``"complete"`` statement read off the data rather than the protocol.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from synth.encode.table import CellBlock
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import MarginalTable, TableSpec, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.release.shards import total
from synth.privacy.smoothing import simplex_projection

__all__ = ["release_attendance", "concentrated", "attendance_sigma", "ATTENDANCE_WEIGHT", "FALSE_KEEP"]

# The attendance table costs as much as this many label tables (its σ theirs / √w). A constant:
# the rule it replaced (1, 2 or 4: the fewest at which N patients in one pattern clear the
# threshold by 2σ) read the released N, and at 36–250 patients flipped from fit to fit
# (bench/RESULTS.md, issue 48, "The attendance weight off the released N").
ATTENDANCE_WEIGHT = 1
FALSE_KEEP = 0.01  # chance that some empty pattern's noise survives the threshold
# Research switch (bench/schedule.py's synth-monotone arm): the chance that some empty monotone
# dropout pattern ("attended up to slot k", k < K) survives its own, lower threshold; None: one
# threshold for every pattern (the shipped estimator).
MONOTONE_FALSE_KEEP: float | None = None


def concentrated(noisy: np.ndarray, sigma: float, n: float, monotone: np.ndarray | None = None) -> np.ndarray:
    """Post-processing: the cells that clear z·σ (and the largest), projected onto the
    non-negative counts with total ``n``; every other cell 0. With σ = 0 the counts as they are.
    With ``monotone`` (a mask of the dropout patterns) and ``MONOTONE_FALSE_KEEP``, those cells
    clear a lower threshold of their own."""
    noisy = np.asarray(noisy, dtype=float)
    if sigma == 0:
        return np.clip(noisy, 0, None)
    z = np.full(len(noisy), NormalDist().inv_cdf(1 - FALSE_KEEP / len(noisy)))
    if monotone is not None and MONOTONE_FALSE_KEEP is not None and monotone.any():
        z[monotone] = NormalDist().inv_cdf(1 - MONOTONE_FALSE_KEEP / int(monotone.sum()))
    keep = noisy >= z * sigma
    keep[int(np.argmax(noisy))] = True
    out = np.zeros_like(noisy)
    out[keep] = simplex_projection(noisy[keep], float(n))
    return out


def attendance_sigma(ledger: Ledger, share: float, label_steps: int) -> tuple[float, int]:
    """(σ, weight) of the attendance table: ``ATTENDANCE_WEIGHT`` steps' worth among the label
    stage's ``label_steps`` + weight released within ``share`` (the label tables then get the
    rest at their σ). Reads the ledger's budget and history and public constants only."""
    steps = label_steps + ATTENDANCE_WEIGHT
    return ledger_sigma(ledger, share, steps) / ATTENDANCE_WEIGHT ** 0.5, ATTENDANCE_WEIGHT


def release_attendance(encoded: np.ndarray, block: CellBlock, ledger: Ledger, rng: np.random.Generator,
                       share: float, label_steps: int) -> MarginalTable:
    """The noisy attendance table (one row per patient in ``encoded``), recorded in the ledger,
    as a table for the generator to match: :func:`concentrated`'s estimate, total N."""
    spec = TableSpec((block,), by_label=False)
    counts = total(spec.count(encoded, np.zeros(len(encoded), dtype=int), 0))  # every rank's patients
    sigma, weight = attendance_sigma(ledger, share, label_steps)
    noisy = noisy_counts(counts, sigma, rng, "table:attendance")
    ledger.add(Mechanism("marginals:attendance", sigma, 1.0, 1,
                         "Gaussian counts of the patients' attendance patterns on the stated schedule",
                         {"tables": [block.column], "weight": weight}))
    n = float(ledger.n_patients)
    attended = np.asarray(block.presence) if block.presence is not None else None
    monotone = None if attended is None else (np.diff(attended, axis=1) <= 0).all(axis=1) & (attended.min(axis=1) < 1)
    estimate = concentrated(noisy[0], sigma, n, monotone)[None]
    return MarginalTable((block,), estimate, by_label=False, totals=np.array([n]), sigma=sigma)
