"""A time-to-event table's arm contrasts, shrunk by their own DP noise: post-processing only.

A declared time-to-event pair is released as one table, arm × event × time bins
(:mod:`synth.privacy.analysis_tables`), which the generator matches. Each arm's row is a trial
arm's joint distribution of (event, time) plus Gaussian noise of known σ per cell; at trial
sizes that noise is the size of the arms' real differences in the time bins (colon: about 12
patients a cell against σ ≈ 10), and a generator that matches it draws a hazard ratio the trial
never had (bench/RESULTS.md, issue 46: colon's null contrast significant in 2/10 Cox fits).

:func:`shrunk_time_to_event` splits each arm's row into the event's rate and the time's
distribution given the event, and moves each arm's part towards the arms' pooled one by the
positive-part James–Stein factor

    f = max(0, 1 − E‖noise‖² / ‖d‖²),

``d`` the arm's difference from the reference arm (the first with patients) and E‖noise‖² the
sum over its components of the variance the cells' noise gives them (σ² times the number of
cells summed, over the squared count they are divided by): a difference the noise alone could
have made goes to the pooled one, a clear one is barely moved. The arms' weighted mean of each
part is kept, and each arm's total. The same rule as the binary outcome's log odds ratio
(:func:`synth.models.calibrate.shrunk_rates`) and the numerical outcome's means
(:func:`synth.models.mean_targets.shrunk_means`).

Notes
-----
Reads the released counts, their σ and the table's public totals only: no real data. What would
void the guarantee: a factor computed from the true counts, or a choice of tables read off the
data (the tables here are those the public declaration names).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from synth.privacy.analysis_tables import declared_table
from synth.privacy.marginals import MarginalTable
from synth.schema.analysis import AnalysisDeclaration

__all__ = ["shrunk_parts", "shrunk_joint", "shrunk_time_to_event"]


def shrunk_parts(parts: np.ndarray, sizes: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """(arms, cells) distributions, each arm's weight ``sizes`` and the noise variance summed
    over each arm's cells → the distributions with each arm's difference from the reference arm
    shrunk (positive-part James–Stein), the ``sizes``-weighted mean kept, clipped at 0 and
    renormalised. Arms of zero size keep their row."""
    parts = np.asarray(parts, dtype=float)
    used = np.asarray(sizes, dtype=float) > 0
    if used.sum() < 2:
        return parts
    ref = int(np.flatnonzero(used)[0])
    d = parts - parts[ref]
    norm2 = (d ** 2).sum(axis=1)
    var = np.asarray(noise, dtype=float) + noise[ref]
    factor = np.where(norm2 > 0, np.clip(1 - var / np.where(norm2 > 0, norm2, 1), 0, 1), 0.0)
    factor[ref] = 1.0
    w = np.where(used, sizes, 0.0) / float(np.where(used, sizes, 0.0).sum())
    shrunk = factor[:, None] * d
    out = np.clip(shrunk + (w @ parts - w @ shrunk)[None, :], 0, None)
    total = out.sum(axis=1, keepdims=True)
    out = np.where(total > 0, out / np.where(total > 0, total, 1), 1.0 / out.shape[1])
    return np.where(used[:, None], out, parts)


def shrunk_joint(counts: np.ndarray, sigma: float) -> np.ndarray:
    """(arms, event cells, time cells) non-negative counts with noise σ per cell → the same
    shape with each arm's event rates and each (arm, event)'s time distribution shrunk towards
    the other arms' by their noise (:func:`shrunk_parts`); each arm's total kept."""
    c = np.clip(np.asarray(counts, dtype=float), 0, None)
    if not sigma > 0 or not np.isfinite(sigma) or c.ndim != 3 or len(c) < 2:
        return np.asarray(counts, dtype=float)
    arms, events, times = c.shape
    n = c.sum(axis=(1, 2))
    safe_n = np.where(n > 0, n, 1.0)
    margin = c.sum(axis=2)  # (arms, events): each a sum of `times` noisy cells
    rates = shrunk_parts(margin / safe_n[:, None], n, events * times * sigma ** 2 / safe_n ** 2)
    out = np.zeros_like(c)
    for e in range(events):
        m = margin[:, e]
        ok = m >= 1  # an (arm, event) of under one patient: its time distribution is the others'
        given = c[:, e, :] / np.where(ok, m, 1.0)[:, None]
        noise = times * sigma ** 2 / np.where(ok, m, 1.0) ** 2
        given = shrunk_parts(given, np.where(ok, m, 0.0), noise)
        if (~ok).any() and ok.any():
            given[~ok] = (m[ok] @ given[ok]) / m[ok].sum()
        out[:, e, :] = given
    return out * (rates * n[:, None])[:, :, None]


def shrunk_time_to_event(tables: list[MarginalTable], analysis: AnalysisDeclaration | None, label: str | None
                         ) -> list[MarginalTable]:
    """``tables`` with each declared time-to-event pair's arm × event × time table shrunk
    (:func:`shrunk_joint`, on its projected counts), when the arm is the fit's label; the other
    tables as they are. Post-processing of releases."""
    if analysis is None or label != analysis.arm or not analysis.time_to_event:
        return tables
    pairs = [declared_table(tables, (p.event, p.time)) for p in analysis.time_to_event]
    out = []
    for table in tables:
        if table.sigma > 0 and table.counts.ndim == 3 and any(table is pair for pair in pairs):
            counts = table.counts
            if table.totals is not None:  # the projected counts: non-negative, each arm's public total
                counts = table.conditional() * np.asarray(table.totals, dtype=float).reshape(-1, 1, 1)
            table = replace(table, counts=shrunk_joint(counts, table.sigma))
        out.append(table)
    return out
