"""The post-fit calibration of declared outcomes, run by :meth:`Synthesizer.fit` after DP-SGD.

Moved here unchanged from ``synth/synthesizer.py`` (issue 50); ``Synthesizer.fit`` calls it by
the name ``synth.synthesizer.calibrate_outcomes``. It reads the released tables only
(post-processing): it would void the guarantee if it read the real rows or exact counts.
"""

from __future__ import annotations

import numpy as np

from synth.encode.table import from_unit, to_unit

__all__ = ["calibrate_outcomes"]


def calibrate_outcomes(gen, p, seed: int) -> list[str]:
    """Pin each declared binary outcome's rate per arm to the released arm × outcome table, its
    association shrunk by its noise, and each declared numerical outcome's mean per arm to its
    released means (the sums' and the table's combined, the difference shrunk:
    :func:`synth.models.mean_targets.arm_means`) by a tilt of its bins (:mod:`synth.models.calibrate`;
    post-processing), when the arm is the fit's class. The outcomes calibrated, by name."""
    from synth.models.calibrate import calibrate, calibrate_means, shrunk_rates
    from synth.privacy.analysis_tables import declared_table

    analysis = p.meta.analysis
    if analysis is None or p.marginals is None or p.label != analysis.arm or not p.n_classes:
        return []
    categories = {c.name: getattr(c, "categories", None) for c in p.domain.columns}
    targets, names = [], []
    for outcome in analysis.outcomes:
        table = declared_table(p.marginals.tables, (outcome,))
        if table is None or len(categories.get(outcome) or ()) != 2 or table.sigma <= 0:
            continue
        targets.append((table.blocks[0].start, shrunk_rates(table.counts[:, :2], table.sigma)))
        names.append(outcome)
    calibrate(gen, targets, seed)
    term = getattr(p.marginals, "means", None)  # a numerical outcome's released (shrunk) arm means
    numeric = [] if term is None else [
        (m.outcome, t.cpu().numpy(), w.cpu().numpy()) for m, t, w in zip(term.means, term.targets, term.weights)
        if m.arm is None and m.outcome.column in analysis.outcomes]
    calibrate_means(gen, numeric, seed, {block.column: _decoder(p.domain, block.column) for block, _, _ in numeric})
    return names + [block.column for block, _, _ in numeric]


def _decoder(domain, column: str):
    """u → the u of the value the sampler writes (rounded to an integer, clipped to the range),
    from the public domain; None when the value is written as drawn."""
    col = next((c for c in domain.columns if c.name == column), None)
    if col is None or not col.integer:
        return None

    def decode(u: np.ndarray) -> np.ndarray:
        values = np.clip(np.round(from_unit(col, u)), np.ceil(col.lo), np.floor(col.hi))
        return to_unit(col, values)
    return decode
