"""The wide domains of visit sequences (visit times, or a stated schedule's slots) and the way back.

Post-processing and public metadata only: the attendance patterns are the schedule's, the
visit times are the schedule's times, and sampling writes each generated patient's attended
slots there. Nothing here reads real data.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.sequence import VISITS, SequenceLayout, gap_name, slot_name
from synth.schema.slots import ATTENDANCE, patterns, presence

__all__ = ["slots_domain", "slot_visits", "times_domain"]


def slots_domain(base: Domain, layout: SequenceLayout, all_columns: list[str]) -> Domain:
    """Statics, the attendance pattern (public cells: every pattern, or only the complete one
    when the metadata states it), then each temporal column per slot."""
    doms = {c.name: c for c in base.columns}
    k = len(layout.schedule)
    cells = patterns(k, complete=layout.attendance == "complete")
    cols = [doms[c] for c in layout.static if c in doms]
    cols.append(ColumnDomain(ATTENDANCE, "categorical", "categorical", False, "public", categories=list(cells),
                             values=list(cells)))
    for j in range(k):
        cols.extend(replace(doms[c], name=slot_name(c, j)) for c in layout.temporal)
    return replace(base, columns=cols, all_columns=list(all_columns))


def slot_visits(wide: pd.DataFrame, layout: SequenceLayout, cells: list[str],
                ends: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Generated patients → (which slots are visits, their times), both (patients × slots).

    A patient's visits are the slots of their attendance pattern, at the scheduled times. With
    ``ends`` (each patient's follow-up end, NaN: none) a slot after the end is dropped; a patient
    left with none keeps the first slot, at the end if that is earlier: the end wins.
    """
    index = {c: i for i, c in enumerate(cells)}
    attended = presence(cells)[wide[ATTENDANCE].astype(str).map(index).to_numpy(int)] > 0.5
    times = np.broadcast_to(np.asarray(layout.schedule, dtype=float), attended.shape).copy()
    if ends is not None:
        known = ~np.isnan(ends)
        within = ~(times > np.where(known, ends, np.inf)[:, None])
        attended &= within
        none = ~attended.any(axis=1)
        attended[none, 0] = True
        times[known, 0] = np.minimum(times[known, 0], ends[known])
    return attended, times


def times_domain(base: Domain, layout: SequenceLayout, all_columns: list[str]) -> Domain:
    """Without slots: statics, the visit count, the first visit's time, then per slot the gap
    since the previous visit (none at the first) and each temporal column."""
    doms = {c.name: c for c in base.columns}
    m = layout.max_visits
    cols = [doms[c] for c in layout.static if c in doms]
    cols.append(ColumnDomain(VISITS, "categorical", "categorical", False, layout.max_visits_source,
                             categories=[str(v) for v in range(1, m + 1)], values=list(range(1, m + 1))))
    index = doms[layout.index]
    # visit times on the duration scale (synth.encode.DURATION_STEPS) unless the metadata says log
    scale = "log" if index.scale == "log" else "duration"
    for k in range(m):
        if k == 0:
            cols.append(replace(index, name=slot_name(layout.index, 0), sdtype="numerical", nullable=False,
                                scale=scale))
        else:
            cols.append(ColumnDomain(gap_name(k), "numerical", "numerical", False, index.source, lo=0.0,
                                     hi=index.hi - index.lo, integer=index.integer, scale="duration"))
        cols.extend(replace(doms[c], name=slot_name(c, k)) for c in layout.temporal)
    return replace(base, columns=cols, all_columns=list(all_columns))
