"""The label's own table on scheduled slots: its counts released again, at the label tables' σ.

The label counts are first released in preprocessing (``label_counts:<label>``) at the
preprocessing σ, which at N ≈ 40 is several times the patients of a class (σ ≈ 69 at ε = 1 on
a 36-patient trial); the label × column tables' row sums then carry most of what is known of the
classes (:mod:`synth.privacy.class_sizes`), and a scheduled trial has few such tables (one
temporal outcome: one table, of 2 groups a row at two stages), so the label's proportions came
out mostly noise (bench/RESULTS.md, issue 48: 35 of 36 synthetic patients in a class of 8).

On a stated schedule (slots) with a label, the label's counts are released once more as one
table of the label stage (one Gaussian step at the stage's σ: the stage's σ is calibrated with
it in the ledger, as with the attendance table), and pooled with the preprocessing release by
inverse variance (:func:`pooled`) before :func:`synth.privacy.class_sizes.combine_class_sizes`.

Notes
-----
What would void the guarantee: counting a patient in more than one cell (one label per patient:
pass one ``y`` per patient; a label value not released in the domain counts nowhere), noise from
anything but the fit's secret generator, or a σ that is not the one recorded in the ledger
(:func:`pooled` weights each release by its σ, which must be the σ actually drawn).
"""

from __future__ import annotations

import numpy as np

from synth.privacy.class_sizes import NoisyCounts
from synth.privacy.ledger import Ledger, Mechanism
from synth.privacy.marginals import TableSpec, ledger_sigma
from synth.privacy.mechanisms import noisy_counts
from synth.privacy.resolution import label_stage_steps
from synth.privacy.shards import total

__all__ = ["release_label_table", "pooled", "ENABLED"]

# Research switch (bench/schedule.py's synth-no-label-table arm): False releases nothing here.
ENABLED = True


def pooled(a: NoisyCounts, b: NoisyCounts) -> NoisyCounts:
    """Inverse-variance average of two independent releases of the same counts (post-processing);
    an exact one (σ = 0) is kept as it is."""
    if a.sigma == 0 or b.sigma == 0:
        return a if a.sigma == 0 else b
    wa, wb = 1.0 / a.sigma ** 2, 1.0 / b.sigma ** 2
    counts = (wa * np.asarray(a.counts, dtype=float) + wb * np.asarray(b.counts, dtype=float)) / (wa + wb)
    return NoisyCounts(counts, float((wa + wb) ** -0.5))


def release_label_table(y: np.ndarray, n_classes: int, prior: NoisyCounts, specs: list[TableSpec], ledger: Ledger,
                        rng: np.random.Generator, share: float, after: int = 0) -> NoisyCounts:
    """The label's counts (one per patient in ``y``; ``y < 0``, a value not in the domain, counts
    nowhere) at the σ of the label stage that follows with ``specs`` within ``share``, recorded
    in the ledger as ``marginals:label``; returned pooled with ``prior`` (the preprocessing
    release); ``after`` more steps at that σ are released before the stage. Reads the real
    labels once, through a count of L2 sensitivity 1."""
    labels = np.asarray(y, dtype=int)
    counts = total(np.bincount(labels[labels >= 0], minlength=n_classes).astype(float))  # every rank's patients
    steps = label_stage_steps(specs, n_classes, ledger, share, 1 + after) + after
    sigma = ledger_sigma(ledger, share, steps + 1)
    noisy = noisy_counts(counts, sigma, rng, "table:label")
    ledger.add(Mechanism("marginals:label", sigma, 1.0, 1,
                         "Gaussian counts of each label value, released with the label tables (scheduled slots)",
                         {"tables": ["label"]}))
    return pooled(prior, NoisyCounts(noisy, sigma))
