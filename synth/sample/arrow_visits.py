"""Drawn patients straight to the Arrow arrays of their visits (one row a visit), as the CSV
writes them: the visit sequences' half of the streaming sampler (:class:`synth.sample.arrow_rows.ArrowRows`).

The reference path decodes every wide column to pandas (:meth:`SequenceEncoder.decode`), turns
the patients into long visits (:meth:`SequenceEncoder.to_long`), rounds, applies the
inequalities and implications and converts the frame to Arrow. Here only the wide columns that
decide which slots are visits go through pandas (the reference's own
:meth:`SequenceEncoder.kept_visits`); every other column is gathered from the drawn cells of the
kept slots, patient by patient, then decoded once (NumPy → Arrow), with the reference's values,
types and nulls. Columns named in an inequality or an implication go through the reference's
pandas steps (:meth:`SequenceEncoder.long_frame`). The CSV is byte-identical for a seed (tested
against the reference path).

Post-processing only: the inputs are generated rows and public metadata or DP releases (the
domain); nothing here reads real data. Reading anything else (a real row, a count of real
values) would void the guarantee.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from synth.encode.sequence import LongColumns, SequenceEncoder
from synth.encode.table import NUMERIC_BINS
from synth.sample.arrow_cells import (category_array, cell_values, decoded_series, frame_batch, lookup, number_array,
                                      numbers, positions)
from synth.sample.precision import Precision
from synth.sample.rules import apply_implications, apply_inequalities
from synth.sample.draw import arrow_schema
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.implications import Implication
from synth.schema.sequence import slot_name

__all__ = ["VisitArrays"]


def _same_but_name(a: ColumnDomain, b: ColumnDomain) -> bool:
    return replace(a, name=b.name) == b


class VisitArrays:
    """The visit rows of drawn patients as Arrow arrays, one per column (:meth:`arrays`).

    ``written`` and ``rule`` are the reference's precision and inequality rule, ``implied`` its
    implications; ``constrained`` the columns they name (in ``domain.all_columns`` order).
    """

    def __init__(self, encoder: SequenceEncoder, domain: Domain, written: Precision, rule: tuple,
                 implied: list[Implication], constrained: list[str]):
        self.encoder, self.domain, self.written = encoder, domain, written
        self.rule, self.implied, self.constrained = rule, implied, constrained
        self.lay, self.starts = encoder.layout, positions(domain)
        self.doms = {c.name: c for c in domain.columns}
        named = [*self.lay.static, *(slot_name(c, 0) for c in self.lay.temporal)]  # a visit column: its first slot
        self.tables = {n: lookup(self.doms[n]) for n in named if n in self.doms and self.doms[n].kind != "numerical"}
        if domain.label is not None:
            self.tables[domain.label.name] = lookup(domain.label)
        for name in self.lay.temporal:  # every slot of a column decodes as its first slot does
            first = self.doms[slot_name(name, 0)]
            if not all(_same_but_name(first, self.doms[slot_name(name, k)]) for k in range(self.lay.max_visits)):
                raise ValueError(f"visit column '{name}' has different domains in different visit slots")

    def arrays(self, first: int, labels: np.ndarray | None, out: np.ndarray,
               chosen: dict[int, np.ndarray]) -> dict[str, pa.Array]:
        """Each column's array for the visits of one slice of patients (``first``: the 0-based
        number of its first patient), in the reference's order: patient by patient, by time."""
        lay, lab = self.lay, self.domain.label
        wide = pd.DataFrame({name: self._series(name, out, chosen) for name in self.encoder.visit_columns()})
        kept, times, t0 = self.encoder.kept_visits(wide)
        i_idx, k_idx = np.nonzero(kept)  # patient-major order
        ids = first + 1 + i_idx
        arrays: dict[str, pa.Array] = {}
        for name in self.domain.all_columns:
            if name in self.constrained:
                continue
            if name == lay.key:
                arrays[name] = pa.array(ids.astype(np.int64))
            elif name == lay.index:
                index = replace(t0, sdtype=lay.index_sdtype)
                rounding = self.written.columns.get(name)
                arrays[name] = number_array(index, times[kept], np.zeros(len(ids), bool), rounding)
            elif lab is not None and name == lab.name:
                arrays[name] = category_array(lab, self.tables[name], labels[i_idx])  # past the values: missing
            elif name in lay.static:
                arrays[name] = self._static(name, out, chosen).take(i_idx)
            elif name in lay.temporal:
                arrays[name] = self._temporal(name, out, chosen, i_idx, k_idx)
            elif name in self.domain.pii_columns:
                arrays[name] = pc.binary_join_element_wise(f"{name}_", pc.cast(pa.array(ids), pa.string()), "")
            else:  # another id column (e.g. a visit id): fresh "patient-visit" labels
                arrays[name] = pc.binary_join_element_wise(pc.cast(pa.array(ids), pa.string()),
                                                           pc.cast(pa.array(k_idx + 1), pa.string()), "-")
        if self.constrained:
            arrays.update(self._constrained(out, chosen, labels, kept, times, t0, first + 1))
        return arrays

    def _series(self, name: str, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pd.Series:
        return decoded_series(self.doms[name], self.starts[name], out, chosen)

    def _static(self, name: str, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pa.Array:
        """A static column, one value a patient."""
        col, pos = self.doms[name], self.starts[name]
        if col.kind == "numerical":
            return number_array(col, *numbers(col, pos, out, chosen), self.written.columns.get(name))
        return category_array(col, self.tables[name], chosen[pos])

    def _temporal(self, name: str, out: np.ndarray, chosen: dict[int, np.ndarray], i_idx: np.ndarray,
                  k_idx: np.ndarray) -> pa.Array:
        """A visit column: each kept slot's drawn cells, gathered patient by patient, then decoded."""
        slots = [slot_name(name, k) for k in range(self.lay.max_visits)]
        col, starts = self.doms[slots[0]], np.array([self.starts[s] for s in slots])
        cells = np.stack([chosen[s] for s in starts])[k_idx, i_idx]
        if col.kind != "numerical":
            return category_array(col, self.tables[slots[0]], cells)
        offsets = out[i_idx, starts[k_idx] + NUMERIC_BINS]
        missing = np.stack([chosen[s + NUMERIC_BINS + 1] for s in starts])[k_idx, i_idx] if col.nullable else None
        return number_array(col, *cell_values(col, cells, offsets, missing), self.written.columns.get(name))

    def _constrained(self, out: np.ndarray, chosen: dict[int, np.ndarray], labels: np.ndarray | None,
                     kept: np.ndarray, times: np.ndarray, t0: ColumnDomain, first_id: int) -> dict[str, pa.Array]:
        """The columns named in an inequality or an implication, through the reference's pandas steps."""
        lay, wide = self.lay, {}
        for name in self.constrained:
            if name in lay.temporal:
                slots = [slot_name(name, k) for k in range(lay.max_visits)]
                wide.update({s: self._series(s, out, chosen) for s in slots})
            elif name in self.doms:
                wide[name] = self._series(name, out, chosen)
        columns = LongColumns(self.constrained, self.domain.label, self.domain.pii_columns)
        frame = self.encoder.long_frame(pd.DataFrame(wide, index=pd.RangeIndex(len(kept))), kept, times, t0, labels,
                                        first_id, columns)
        frame = apply_implications(apply_inequalities(self.written.round(frame), *self.rule), self.implied)
        batch = frame_batch(frame, arrow_schema(frame))
        return {name: batch.column(name) for name in frame.columns}
