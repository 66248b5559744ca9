"""The post-fit calibration of declared outcomes, run by :meth:`Synthesizer.fit` after DP-SGD.

Moved here unchanged from ``synth/synthesizer.py`` (issue 50); ``Synthesizer.fit`` calls it by
the name ``synth.synthesizer.calibrate_outcomes``. It reads the released tables only
(post-processing): it would void the guarantee if it read the real rows or exact counts.
"""

from __future__ import annotations

__all__ = ["calibrate_outcomes"]


def calibrate_outcomes(gen, p, seed: int) -> list[str]:
    """Pin each declared binary outcome's rate per arm to the released arm × outcome table, its
    association shrunk by its noise (:mod:`synth.models.calibrate`; post-processing), when the
    arm is the fit's class. The outcomes calibrated, by name."""
    from synth.models.calibrate import calibrate, shrunk_rates
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
    return names
