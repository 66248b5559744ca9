"""Long-format visit data ↔ one wide row per patient (the privacy unit).

A patient's visits, sorted by the sequence index and truncated to the public ``max_visits``,
become one row: the static columns, the visit count, the first visit's time, the gaps between
visits (≥ 0, so times are monotone) and every temporal column per visit slot. Slots after the
last visit are padding. The tabular AC-GAN then models whole patients: one row per patient is
one per-sample gradient and one Poisson draw, so DP-SGD's unit is a patient with all visits.

Metadata: SDV's ``sequence_key``/``sequence_index`` plus a top-level
``"synth_sequence": {"static_columns": [...], "max_visits": M, "follow_up_end": C,
"first_visit_at": T}`` (static columns are constant within a patient; all other modelled
columns are temporal). Without ``max_visits``, it is estimated under DP (the 99.5% quantile of
visits per patient, in the ledger). ``follow_up_end`` names a static column, on the sequence
index's scale, that no visit comes after (the end of follow-up, say): sampling ends each
synthetic patient's visits there. ``first_visit_at`` is the numerical index's value at every
patient's first visit (the baseline day, say): sampling moves each synthetic patient's visits
together so that the first falls there. ``schedule`` lists the public visit times of a fixed
schedule (every real visit must be at one; ``max_visits`` defaults to their number): with at
most ``MAX_SLOTS`` times the visits are slots (:mod:`synth.schema.slots`), else sampling moves
each synthetic visit to the nearest. ``attendance`` ("complete") states that every patient
attended every scheduled visit. ``visit_tables`` ("per_visit" or "pooled") says how a
temporal column's noisy tables are cut: one per visit slot, or one pooled over all visits (the
default is per visit when a public ``max_visits`` is at most 6, see
:meth:`synth.encode.sequence.SequenceEncoder.per_visit_tables`).

Privacy assumption: the checks here run on the data holder's machine; their errors name columns
and public metadata, never a value or a count of the data (messages may be shared). Truncation keeps each patient's first ``max_visits`` visits: a patient is
never split into several rows.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from synth.errors import SynthError, SynthWarning
from synth.schema.metadata import REVIEW, Metadata
from synth.schema.slots import ATTENDANCE_VALUES, MAX_SLOTS
from synth.schema.sdtypes import is_modelled, is_number, is_numeric

__all__ = ["SequenceLayout", "sequence_layout", "order_visits", "visit_counts", "to_wide", "end_visits",
           "start_visits", "schedule_visits", "VISITS", "slot_name", "gap_name"]

VISITS = "__visits"  # wide column: the number of visits (1 … max_visits)


def slot_name(column: str, k: int) -> str:
    """Wide name of ``column`` at visit slot ``k`` (0-based)."""
    return f"{column}@{k + 1}"


def gap_name(k: int) -> str:
    """Wide name of the time from visit ``k - 1`` to visit ``k`` (k ≥ 1)."""
    return f"__gap@{k + 1}"


@dataclass
class SequenceLayout:
    key: str
    index: str
    static: list[str]
    temporal: list[str]
    max_visits: int | None  # None until estimated under DP
    max_visits_source: str = "public"
    index_sdtype: str = "numerical"
    end: str | None = None  # the static column no visit comes after (metadata's follow_up_end)
    start: float | None = None  # every patient's first visit time (metadata's first_visit_at)
    visit_tables: str | None = None  # "per_visit" or "pooled" (metadata's visit_tables); None: by max_visits
    schedule: list[float] | None = None  # the public visit times (metadata's schedule), sorted
    slots: bool = False  # the schedule's visits as slots (synth.schema.slots); False in files before version 8
    attendance: str | None = None  # "complete" (metadata's attendance): every patient attended every slot

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SequenceLayout:
        return cls(**data)


SEQUENCE_KEYS = ("static_columns", "max_visits", "follow_up_end", "first_visit_at", "schedule", "visit_tables",
                 "attendance", REVIEW)
MAX_SCHEDULE = 100  # scheduled visit times at most
VISIT_TABLES = ("per_visit", "pooled")


def sequence_layout(meta: Metadata, label: str | None) -> SequenceLayout:
    """Read the sequence part of the metadata; one-line errors for what is missing or wrong."""
    key, index = meta.sequence_key, meta.sequence_index
    if key is None:
        raise SynthError("metadata: sequence data needs a sequence_key (the patient id column)")
    if index is None:
        raise SynthError("metadata: sequence data needs a sequence_index (the visit time column)")
    if not is_numeric(meta.sdtype(index)):
        raise SynthError(f"metadata: sequence_index '{index}' must be numerical or datetime to be sortable")
    if meta.public_bounds(index) is None:
        raise SynthError(f"metadata: sequence_index '{index}' needs public range_min/range_max")
    spec = meta.extra.get("synth_sequence") or {}
    modelled = [c for c in meta.columns if is_modelled(meta.sdtype(c)) and c != index]
    if "static_columns" not in spec:
        raise SynthError("metadata: sequence data needs \"synth_sequence\": {\"static_columns\": [...]} "
                         "(`synth metadata infer --sequence-key` drafts it)")
    unknown = sorted(str(k) for k in spec if k not in SEQUENCE_KEYS)
    if unknown:
        known = ", ".join(SEQUENCE_KEYS[:-1])
        warnings.warn(f"metadata: synth_sequence.{unknown[0]} is not a key synth reads ({known}); it is ignored",
                      SynthWarning, stacklevel=2)
    static = list(spec["static_columns"])
    for col in static:
        if col not in modelled:
            raise SynthError(f"metadata: static column '{col}' is not a modelled column")
    if label is not None and label not in static:
        raise SynthError(f"label column '{label}' must be a static column (constant within a patient)")
    max_visits = spec.get("max_visits")
    if max_visits is not None and (not isinstance(max_visits, int) or max_visits < 1):
        raise SynthError(f"metadata: synth_sequence.max_visits must be a positive integer, got {max_visits!r}")
    end = spec.get("follow_up_end")
    if end is not None and (end not in static or meta.sdtype(end) != meta.sdtype(index)):
        raise SynthError(f"metadata: synth_sequence.follow_up_end {end!r} must name a static column of the "
                         f"sequence index's sdtype ({meta.sdtype(index)})")
    start = spec.get("first_visit_at")
    if start is not None:
        lo, hi = meta.public_bounds(index)
        if (not is_number(meta.sdtype(index)) or isinstance(start, bool) or not isinstance(start, (int, float))
                or not lo <= start <= hi):
            raise SynthError(f"metadata: synth_sequence.first_visit_at must be a number in the range of the "
                             f"numerical sequence_index '{index}' ({lo:g} to {hi:g}), got {start!r}")
    schedule = _read_schedule(spec.get("schedule"), meta, index)
    if schedule is not None:
        if max_visits is not None and max_visits > len(schedule):
            raise SynthError(f"metadata: synth_sequence.max_visits ({max_visits}) is more than the "
                             f"{len(schedule)} scheduled visit times; a patient has one visit per scheduled time")
        max_visits = len(schedule) if max_visits is None else max_visits
        if start is not None and float(start) not in schedule:
            raise SynthError(f"metadata: synth_sequence.first_visit_at ({start:g}) is not one of the scheduled "
                             "visit times in synth_sequence.schedule")
    tables = spec.get("visit_tables")
    if tables is not None and tables not in VISIT_TABLES:
        raise SynthError(f"metadata: synth_sequence.visit_tables must be \"per_visit\" or \"pooled\", got {tables!r}")
    if tables == "per_visit" and max_visits is None:
        raise SynthError("metadata: synth_sequence.visit_tables \"per_visit\" needs a public max_visits "
                         "(one table per visit slot)")
    attendance = spec.get("attendance")
    slots = schedule is not None and len(schedule) <= MAX_SLOTS and max_visits == len(schedule)
    if attendance is not None and (attendance not in ATTENDANCE_VALUES or not slots):
        raise SynthError(f"metadata: synth_sequence.attendance can only be \"complete\", with a schedule of at most "
                         f"{MAX_SLOTS} times (and max_visits, if given, their number), got {attendance!r}")
    return SequenceLayout(key, index, [c for c in modelled if c in static],
                          [c for c in modelled if c not in static], max_visits,
                          "public" if max_visits is not None else "dp", meta.sdtype(index), end,
                          None if start is None else float(start), tables, schedule, slots, attendance)


def _read_schedule(times, meta: Metadata, index: str) -> list[float] | None:
    """The metadata's ``schedule``: distinct visit times in the numerical index's public range."""
    if times is None:
        return None
    lo, hi = meta.public_bounds(index)
    if not is_number(meta.sdtype(index)):
        raise SynthError(f"metadata: synth_sequence.schedule needs a numerical sequence_index, not '{index}' "
                         f"({meta.sdtype(index)})")
    if (not isinstance(times, list) or not 1 <= len(times) <= MAX_SCHEDULE
            or not all(isinstance(t, (int, float)) and not isinstance(t, bool) and lo <= t <= hi for t in times)
            or len(set(times)) != len(times)):
        raise SynthError(f"metadata: synth_sequence.schedule must list 1 to {MAX_SCHEDULE} distinct visit times "
                         f"within '{index}''s range ({lo:g} to {hi:g}), got {times!r}")
    return sorted(float(t) for t in times)


def order_visits(frame: pd.DataFrame, keys: pd.Series, layout: SequenceLayout, source: str) -> pd.DataFrame:
    """Coerced long frame → sorted by (patient, index) with a ``__patient`` column; checks statics.

    ``frame`` is :func:`synth.schema.validate.coerce_frame`'s output (ids dropped); ``keys`` the raw
    sequence_key column.
    """
    if keys.isna().any():
        raise SynthError(f"{source}: sequence_key '{layout.key}' is missing in some rows; give every visit its "
                         "patient's id")
    idx = frame[layout.index]
    if idx.isna().any():
        raise SynthError(f"{source}: sequence_index '{layout.index}' is missing in some rows; every visit needs "
                         "a time to be sorted")
    df = frame.assign(__patient=pd.factorize(keys.astype(str))[0])
    df = df.sort_values(["__patient", layout.index], kind="stable").reset_index(drop=True)
    for col in layout.static:
        varying = df.groupby("__patient")[col].nunique(dropna=False) > 1
        if varying.any():
            raise SynthError(f"{source}: static column '{col}' varies within some patients; list it as temporal "
                             "(remove it from synth_sequence.static_columns)")
    if layout.start is not None:
        elsewhere = (df.groupby("__patient")[layout.index].first() != layout.start).sum()
        if elsewhere:
            raise SynthError(f"{source}: some patients have their first visit at another '{layout.index}' than "
                             f"{layout.start:g}, which the metadata gives as synth_sequence.first_visit_at")
    if layout.schedule is not None:
        off = ~df[layout.index].isin(layout.schedule)
        if off.any():
            raise SynthError(f"{source}: some visits of '{layout.index}' are not at a time in "
                             f"synth_sequence.schedule ({', '.join(f'{t:g}' for t in layout.schedule)})")
    if layout.end is not None:
        late = df[layout.index] > df[layout.end]
        if late.any():
            raise SynthError(f"{source}: some visits come after their patient's '{layout.end}', which the "
                             "metadata names as synth_sequence.follow_up_end")
    return df


def visit_counts(ordered: pd.DataFrame) -> np.ndarray:
    """Visits per patient, in patient order (one value per patient)."""
    return ordered.groupby("__patient", sort=True).size().to_numpy()


def to_wide(ordered: pd.DataFrame, layout: SequenceLayout) -> pd.DataFrame:
    """One row per patient: statics, visit count, first time, gaps and temporal values per slot.

    Visits after ``max_visits`` are dropped; slots after a patient's last visit are NaN (the
    encoder zeroes them).
    """
    m = layout.max_visits
    slot = ordered.groupby("__patient", sort=True).cumcount().to_numpy()
    kept = ordered[slot < m].assign(__slot=slot[slot < m])
    first = kept[kept["__slot"] == 0].set_index("__patient")
    out = {c: first[c] for c in layout.static}
    out[VISITS] = kept.groupby("__patient").size().astype(str)
    def grid(col: str) -> pd.DataFrame:  # patients × slots
        return kept.pivot(index="__patient", columns="__slot", values=col).reindex(columns=range(m))

    times = grid(layout.index)
    gaps = times.diff(axis=1)
    temporal = {c: grid(c) for c in layout.temporal}
    for k in range(m):
        out[slot_name(layout.index, 0) if k == 0 else gap_name(k)] = times[0] if k == 0 else gaps[k]
        for c in layout.temporal:
            out[slot_name(c, k)] = temporal[c][k]
    return pd.DataFrame(out).reset_index(drop=True)


def end_visits(visits: np.ndarray, times: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generated patients' visits ended at ``end``: (visit counts, visit times), both new arrays.

    ``visits`` holds each patient's visit count, ``times`` their sorted visit times (patients ×
    slots) and ``end`` the follow-up end (NaN: none). Visits after the end are dropped; the
    first visit is always kept, and moved to the end if it is later (bench/RESULTS.md item 67),
    even before a ``first_visit_at``: the end wins. Post-processing of generated values only:
    no real data, no privacy cost.
    """
    end = np.asarray(end, dtype=float)
    known = ~np.isnan(end)  # a missing end leaves the patient as generated
    within = (times <= end[:, None]) & (np.arange(times.shape[1])[None, :] < np.asarray(visits)[:, None])
    times = times.copy()
    times[known, 0] = np.minimum(times[known, 0], end[known])
    return np.where(known, np.maximum(within.sum(axis=1), 1), visits), times


def schedule_visits(visits: np.ndarray, times: np.ndarray, schedule: list[float],
                    end: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Generated patients' sorted visit times (patients × slots) moved to the nearest scheduled
    time: (which slots are kept, the moved times). Of visits that meet at one scheduled time the
    first is kept; slots at or after a patient's visit count are never kept. With ``end`` (each
    patient's follow-up end, NaN: none; visits already ended there by :func:`end_visits`), only
    scheduled times up to the end are used, and a visit with none stays where it is: the end
    wins. Post-processing of generated values and public metadata only: no real data, no
    privacy cost.
    """
    grid = np.asarray(schedule, dtype=float)  # sorted
    usable = np.full(len(times), len(grid)) if end is None else np.searchsorted(  # scheduled times ≤ the end
        grid, np.nan_to_num(np.asarray(end, dtype=float), nan=np.inf), side="right")
    last = np.maximum(usable - 1, 0)[:, None]
    above = np.minimum(np.searchsorted(grid, times), last)  # the nearest is this one or the one before
    below = np.maximum(above - 1, 0)
    nearest = np.where(np.abs(times - grid[below]) <= np.abs(times - grid[above]), below, above)
    moved = np.where(usable[:, None] > 0, grid[nearest], times)
    kept = np.arange(times.shape[1])[None, :] < np.asarray(visits)[:, None]
    kept[:, 1:] &= moved[:, 1:] != moved[:, :-1]  # times are sorted: a repeat follows its first
    return kept, moved


def start_visits(times: np.ndarray, start: float, hi: float = np.inf) -> np.ndarray:
    """Generated patients' sorted visit times (patients × slots) moved together so that each
    first visit falls at ``start``; the gaps between visits are kept (bench/RESULTS.md item 68),
    except that a visit moved later than ``hi`` (the index's range maximum) stays at ``hi``.
    Post-processing of generated values only: no real data, no privacy cost.
    """
    return np.minimum(times - times[:, :1] + start, hi)
