"""Whole-patient encoding for visit sequences: the wide domain, padding masks, back to long format.

:func:`synth.release.sequence.prepare_sequences` turns long visit data into one row per patient (see
:mod:`synth.schema.sequence`), with every domain from public metadata or a DP release in the ledger.
:class:`SequenceEncoder` is a :class:`~synth.encode.TableEncoder` over the wide columns that
zeroes padded visit slots, masks generated rows the same way (from the generated visit count)
and decodes generated patients into sorted long-format visits.

Privacy assumption: domains are estimated from one row per patient (static values, the first
visit's temporal values, the visit count), so each DP release has sensitivity 1 per patient.
Categories that appear only after a patient's first visit may not be discovered under DP: give
``range_values`` for temporal categorical columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch

from synth.privacy.domain import ColumnDomain, Domain
from synth.encode.table import CellBlock, TableEncoder, numeric_series, category_series
from synth.schema.metadata import Metadata
from synth.schema.sequence import VISITS, SequenceLayout, end_visits, gap_name, schedule_visits, slot_name, start_visits
from synth.schema.slots import ATTENDANCE, presence
from synth.schema.validate import coerce_frame
from synth.encode.slots import slot_visits

__all__ = ["LongColumns", "SequenceEncoder"]

# Visit phases of a pooled table's missing cell: the first visit, the second, and all later ones
# (a schema rule, never read from the data; bench/RESULTS.md, issue #5 item 32).
MISSING_PHASES = 3
# A temporal column may get a label table per visit slot, not one pooled over visits, when the
# metadata's max_visits is at most this (a fixed schedule of a few visits), and then only where
# the per-visit tables keep every cell at their σ (bench/RESULTS.md, issue #38: they lost at
# 47-89 patients, where each slot's table was mostly noise, and won at 430).
PER_VISIT_MAX_VISITS = 6


@dataclass(frozen=True)
class LongColumns:
    """The columns of decoded long visits, in order, and which of them get drawn labels (the
    label's domain) or fresh "name_id" values (``pii``): public, the domain's."""

    names: Sequence[str]
    label: ColumnDomain | None = None
    pii: Sequence[str] = ()


class SequenceEncoder(TableEncoder):
    """TableEncoder over the wide columns, with visit-slot padding."""

    def __init__(self, domain: Domain, layout: SequenceLayout):
        super().__init__(domain)
        self.layout = layout
        m = layout.max_visits
        slot_cols = {slot_name(c, k): k for k in range(m) for c in layout.temporal}
        slot_cols.update({gap_name(k): k for k in range(1, m)})
        self.slot_positions = [np.array([i for s in self.spans if slot_cols.get(s.column.split("#")[0]) == k
                                         for i in range(s.start, s.start + s.width)], dtype=int)
                               for k in range(m)]
        self.visit_column = ATTENDANCE if layout.slots else VISITS
        (self.visits_span,) = [s for s in self.spans if s.column == self.visit_column]
        self.presence = None  # slots: each attendance pattern's slots (patterns × slots)
        if layout.slots:
            self.presence = presence(self.domain_of(ATTENDANCE).categories)
            attended = tuple(tuple(float(v) for v in row) for row in self.presence)
            self.cell_blocks = [replace(b, presence=attended) if b.column == ATTENDANCE else b
                                for b in self.cell_blocks]
        else:  # the visit count is ordered (1 … max_visits): coarse groups merge adjacent counts
            self.cell_blocks = [replace(b, ordered=True) if b.column == VISITS else b for b in self.cell_blocks]
        self._slots = torch.zeros(m, self.width)  # row k: the positions of slot k (k ≥ 1)
        for k in range(1, m):
            self._slots[k, self.slot_positions[k]] = 1.0

    def noise_groups(self) -> list[int]:
        """Spans of one temporal column (or the gaps) share Gumbel noise across visit slots."""
        base = {slot_name(c, k): c for k in range(self.layout.max_visits) for c in self.layout.temporal}
        base.update({gap_name(k): "__gap" for k in range(1, self.layout.max_visits)})
        base[slot_name(self.layout.index, 0)] = "__gap"
        keys: dict[str, int] = {}
        groups = []
        for i, s in enumerate(self.spans):
            col, suffix = s.column, ""
            for tail in ("#bin", "#missing"):
                if col.endswith(tail):
                    col, suffix = col[: -len(tail)], tail
            key = f"{base[col]}{suffix}" if col in base else f"span{i}"
            groups.append(keys.setdefault(key, len(keys)))
        return groups

    def encode(self, wide: pd.DataFrame) -> np.ndarray:
        x = super().encode(wide)
        if self.layout.slots:
            cells = {c: i for i, c in enumerate(self.domain_of(ATTENDANCE).categories)}
            attended = self.presence[wide[ATTENDANCE].astype(str).map(cells).to_numpy(int)] > 0.5
            for k in range(1, self.layout.max_visits):
                x[np.ix_(~attended[:, k], self.slot_positions[k])] = 0.0
            return x
        visits = wide[VISITS].astype(int).to_numpy()
        for k in range(1, self.layout.max_visits):
            x[np.ix_(visits <= k, self.slot_positions[k])] = 0.0
        return x

    def mask(self, fake: torch.Tensor) -> torch.Tensor:
        """Zero the slots after each generated patient's visit count (differentiable)."""
        s = self.visits_span
        onehot = fake[:, s.start:s.start + s.width]  # column j ↔ j + 1 visits, or pattern j
        if self.presence is not None:  # slot k present iff the pattern attends it
            present = onehot @ torch.as_tensor(self.presence, dtype=fake.dtype, device=fake.device)
        else:
            present = torch.flip(torch.cumsum(torch.flip(onehot, [1]), 1), [1])  # slot k present iff visits > k
        slots = self._slots.to(fake.device)
        keep = 1.0 - slots.sum(dim=0) + present @ slots
        return fake * keep

    def patient_cell_blocks(self) -> list[CellBlock]:
        """Blocks every patient fills (statics, visit count, first visit): one cell per patient each.
        On slots, not the attendance pattern: it has a table of its own (:mod:`synth.release.attendance`)."""
        padded = {i for k in range(1, self.layout.max_visits) for i in self.slot_positions[k]}
        return [b for b in self.cell_blocks if b.start not in padded and b.column != ATTENDANCE]

    def attendance_block(self) -> CellBlock | None:
        """The attendance pattern's block on slots (None without slots)."""
        return next((b for b in self.cell_blocks if b.column == ATTENDANCE), None)

    def per_visit_tables(self) -> bool | None:
        """Whether temporal columns get a label table per visit slot rather than one pooled over
        visits: as the metadata's ``visit_tables`` says; on a short public schedule (``max_visits``
        in the metadata, at most ``PER_VISIT_MAX_VISITS``) None, for the resolution rule to
        decide (:func:`synth.privacy.resolution.full_resolution`); else False. Metadata only."""
        lay = self.layout
        if lay.visit_tables is not None:
            return lay.visit_tables == "per_visit"
        short = lay.max_visits_source == "public" and 1 < lay.max_visits <= PER_VISIT_MAX_VISITS
        return None if short else False

    def to_long(self, wide: pd.DataFrame, label: ColumnDomain | None, labels: np.ndarray | None,
                first_id: int, all_columns: list[str], pii: list[str]) -> pd.DataFrame:
        """Decoded wide patients → long visits sorted by time, ids ``first_id``, ``first_id + 1`` …"""
        kept, times, t0 = self.kept_visits(wide)
        return self.long_frame(wide, kept, times, t0, labels, first_id, LongColumns(all_columns, label, pii))

    def visit_columns(self) -> list[str]:
        """The wide columns :meth:`kept_visits` reads: the visit count or attendance pattern, the
        first visit's time and the gaps (without slots), the follow-up end."""
        lay = self.layout
        names = [ATTENDANCE] if lay.slots else [VISITS, slot_name(lay.index, 0)] + [
            gap_name(k) for k in range(1, lay.max_visits)]
        return names + ([lay.end] if lay.end is not None else [])

    def kept_visits(self, wide: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, ColumnDomain]:
        """Decoded wide patients (:meth:`visit_columns` at least) → which slots are visits and
        their times (both patients × slots), and the index's domain."""
        lay = self.layout
        m = lay.max_visits
        ends = None
        if lay.end is not None:
            end = self.domain_of(lay.end)
            spec = {"sdtype": end.sdtype, "datetime_format": end.datetime_format}
            ends = coerce_frame(wide[[lay.end]], Metadata(columns={lay.end: spec}), "generated data")[lay.end]
            ends = ends.to_numpy(float)
        if lay.slots:  # the attended slots, at their scheduled times
            kept, times = slot_visits(wide, lay, self.domain_of(ATTENDANCE).categories, ends)
            t0 = ColumnDomain(lay.index, "numerical", "numerical", False, "public", lo=lay.schedule[0],
                              hi=lay.schedule[-1], integer=all(float(t).is_integer() for t in lay.schedule))
            return kept, times, t0
        visits = wide[VISITS].astype(int).to_numpy()
        t0 = self.domain_of(slot_name(lay.index, 0))
        gaps = np.column_stack([wide[slot_name(lay.index, 0)].to_numpy(float)] +
                               [wide[gap_name(k)].to_numpy(float) for k in range(1, m)])
        times = np.clip(np.cumsum(gaps, axis=1), t0.lo, t0.hi)  # gaps ≥ 0: monotone visit times
        if lay.start is not None:
            times = start_visits(times, lay.start, t0.hi)  # moved later: kept in the range
        if ends is not None:
            visits, times = end_visits(visits, times, ends)
        if lay.schedule is not None:
            kept, times = schedule_visits(visits, times, lay.schedule, ends)
        else:
            kept = np.arange(m)[None, :] < visits[:, None]
        return kept, times, t0

    def long_frame(self, wide: pd.DataFrame, kept: np.ndarray, times: np.ndarray, t0: ColumnDomain,
                   labels: np.ndarray | None, first_id: int, columns: LongColumns) -> pd.DataFrame:
        """The kept slots (patients × slots) as long visits at ``times``, patient by patient."""
        lay, label, pii = self.layout, columns.label, columns.pii
        m, p = lay.max_visits, len(wide)
        i_idx, k_idx = np.nonzero(kept)  # patient-major order
        order = k_idx * p + i_idx
        out: dict[str, pd.Series] = {}
        for name in columns.names:
            if name == lay.key:
                out[name] = pd.Series(first_id + i_idx, dtype=np.int64)
            elif name == lay.index:
                values = times.T.ravel()[order]
                out[name] = numeric_series(replace(t0, sdtype=lay.index_sdtype), values, np.zeros(len(values), bool))
            elif label is not None and name == label.name:
                out[name] = category_series(label, labels[i_idx])
            elif name in lay.static:
                out[name] = wide[name].iloc[i_idx].reset_index(drop=True)
            elif name in lay.temporal:
                stacked = pd.concat([wide[slot_name(name, k)] for k in range(m)], ignore_index=True)
                out[name] = stacked.iloc[order].reset_index(drop=True)
            elif name in pii:
                out[name] = pd.Series([f"{name}_{first_id + i}" for i in i_idx], dtype=object)
            else:  # another id column (e.g. a visit id): fresh "patient-visit" labels
                out[name] = pd.Series([f"{first_id + i}-{k + 1}" for i, k in zip(i_idx, k_idx)], dtype=object)
        return pd.DataFrame(out)

    def domain_of(self, name: str) -> ColumnDomain:
        return next(c for c in self.domain.columns if c.name == name)
