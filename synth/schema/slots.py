"""Visits on a stated schedule as slots: one per scheduled time, each attended or not.

When the metadata states ``synth_sequence.schedule`` with at most ``MAX_SLOTS`` times, a
patient is not a sequence of visit times but K slots (K = the schedule's length): slot k is
the visit at the k-th scheduled time, attended or not, with that visit's temporal values. The
wide row holds the statics, the attendance pattern (one categorical column, ``ATTENDANCE``,
whose cells are the 2^(K−1) patterns of the later slots: the first scheduled visit, the
baseline, is every patient's) and each temporal column per slot. Sampling writes the
attended slots at their scheduled times: there are no visit times to draw, snap or merge.

``"attendance": "complete"`` in ``synth_sequence`` states (from the protocol, never read off
the data) that every patient attended every scheduled visit: then the pattern column has one
cell and no attendance table is released; the fit checks the statement.

Privacy assumption: the checks here run on the data holder's machine; their errors name
columns and public metadata, never a value or a count of the data. Nothing here is released.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.errors import SynthError

__all__ = ["ATTENDANCE", "MAX_SLOTS", "ATTENDANCE_VALUES", "patterns", "presence", "check_slots", "slot_index",
           "attendance_column"]

ATTENDANCE = "__attendance"  # wide column: which scheduled visits the patient attended ("11010")
MAX_SLOTS = 7  # a schedule of at most this many times is modelled as slots (2^(K-1) ≤ 64 patterns)
ATTENDANCE_VALUES = ("complete",)  # the metadata's synth_sequence.attendance


def patterns(k: int, complete: bool = False) -> list[str]:
    """The attendance patterns of ``k`` slots, public: every pattern with the first slot attended
    (the complete one first, then by fewer visits, later slots missed first); with ``complete``
    the complete pattern only."""
    if complete:
        return ["1" * k]
    later = [format(i, f"0{k - 1}b") if k > 1 else "" for i in range(2 ** (k - 1))]
    later.sort(key=lambda p: (-p.count("1"), [-int(c) for c in p]))
    return ["1" + p for p in later]


def presence(cells: list[str]) -> np.ndarray:
    """(patterns, slots) 0/1: whether each pattern attends each slot."""
    return np.array([[float(c == "1") for c in p] for p in cells])


def slot_index(ordered: pd.DataFrame, index: str, schedule: list[float]) -> np.ndarray:
    """Each visit's slot: the position of its time in the (sorted) schedule."""
    return np.searchsorted(np.asarray(schedule, dtype=float), ordered[index].to_numpy(float))


def check_slots(ordered: pd.DataFrame, index: str, schedule: list[float], complete: bool, source: str) -> None:
    """One visit per patient and scheduled time, the first scheduled visit attended by every
    patient, and with ``complete`` every scheduled visit attended; one-line errors without counts.
    ``ordered`` is :func:`synth.schema.sequence.order_visits`' output (visits on the schedule)."""
    slot = slot_index(ordered, index, schedule)
    patient = ordered["__patient"].to_numpy()
    if pd.Series(list(zip(patient, slot))).duplicated().any():
        raise SynthError(f"{source}: some patients have two visits at one time of synth_sequence.schedule in "
                         f"'{index}'; a fixed schedule has one visit per patient and time")
    first = pd.Series(slot).groupby(patient).min()
    if (first != 0).any():
        raise SynthError(f"{source}: some patients have no visit at the first time of synth_sequence.schedule "
                         f"({schedule[0]:g}); on a stated schedule every patient's first visit is the first "
                         "scheduled one (drop earlier times from the schedule, or state none)")
    if complete and (pd.Series(slot).groupby(patient).size() != len(schedule)).any():
        raise SynthError(f"{source}: some patients missed a scheduled visit, but the metadata says "
                         "synth_sequence.attendance: \"complete\" (every patient attended every scheduled time); "
                         "remove that statement")


def attendance_column(ordered: pd.DataFrame, index: str, schedule: list[float]) -> pd.Series:
    """Each patient's attendance pattern (a string of 0/1 per slot), in patient order."""
    slot = slot_index(ordered, index, schedule)
    grid = np.zeros((ordered["__patient"].max() + 1, len(schedule)), dtype=int)
    grid[ordered["__patient"].to_numpy(), slot] = 1
    return pd.Series(["".join(map(str, row)) for row in grid])


def to_slots_wide(ordered: pd.DataFrame, layout) -> pd.DataFrame:
    """One row per patient: statics, attendance pattern, each temporal column per slot (NaN
    where the slot was not attended; the encoder zeroes those). ``layout`` a slot layout."""
    from synth.schema.sequence import slot_name

    slot = slot_index(ordered, layout.index, layout.schedule)
    frame = ordered.assign(__slot=slot)
    first = frame.groupby("__patient", sort=True).head(1).set_index("__patient")
    out = {c: first[c] for c in layout.static}
    out[ATTENDANCE] = attendance_column(ordered, layout.index, layout.schedule).set_axis(first.index)
    for c in layout.temporal:
        grid = frame.pivot(index="__patient", columns="__slot", values=c).reindex(columns=range(len(layout.schedule)))
        for k in range(len(layout.schedule)):
            out[slot_name(c, k)] = grid[k]
    return pd.DataFrame(out).reset_index(drop=True)
