"""Drawn rows straight to Arrow record batches, as the CSV writes them (the streaming sampler).

Each slice of drawn rows (:func:`synth.sample.draw.draw_slices`) becomes one record batch
holding the values, types and nulls of the reference path: decode to pandas
(:func:`synth.sample.draw.decode_rows`), :meth:`~synth.sample.precision.Precision.round`,
:func:`~synth.sample.rules.apply_inequalities`,
:func:`~synth.sample.rules.apply_implications`, then ``pa.Table.from_pandas`` of
:func:`text_objects` (:func:`synth.sample.csv_out.write_csv_chunks`). The CSV is therefore
byte-identical for a seed (tested against that path). A table's columns go from NumPy to Arrow
(:mod:`synth.sample.arrow_cells`), visit sequences' too (:mod:`synth.sample.arrow_visits`); columns
named in an inequality or an implication go through the reference's pandas steps, one slice
at a time.

Post-processing only: the inputs are generated rows and public metadata or DP releases (the
domain); nothing here reads real data. Reading anything else (a real row, a count of real
values) would void the guarantee.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from synth.encode.table import category_series
from synth.sample.arrow_cells import (Column, categorical_column, category_array, decoded_series, frame_batch, lookup,
                                      numeric_column, positions, text_objects)
from synth.sample.arrow_visits import VisitArrays
from synth.sample.precision import Precision
from synth.sample.draw import arrow_schema
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.implications import Implication
from synth.sample.rules import apply_implications, apply_inequalities
from synth.encode.table import TableEncoder
from synth.schema.inequalities import Inequality
from synth.schema.sequence import slot_name

__all__ = ["ArrowRows", "text_objects", "frame_batch", "types_hold"]


def types_hold(implied: list[Implication], domain: Domain) -> bool:
    """Whether no implication can change its column's type (e.g. put text in a column of
    numbers) where it sets a value: then every slice's columns have the types of the first
    chunk's, whichever rows the rules set, and the first slice may be cut short. Decided on one
    made-up row per rule from the public domain: no generated or real value."""
    doms = {c.name: c for c in domain.columns} | ({domain.label.name: domain.label} if domain.label else {})
    for rule in implied:
        target = doms.get(rule.then_column) or doms.get(slot_name(rule.then_column, 0))
        if target is None:
            return False
        number = rule.threshold + {"below": -1.0, "above": 1.0}.get(rule.op, 0.0)  # where the condition holds
        before = pd.DataFrame({rule.column: [number], rule.then_column: category_series(target, np.zeros(1, int))})
        if apply_implications(before, [rule])[rule.then_column].dtype != before[rule.then_column].dtype:
            return False
    return True


class ArrowRows:
    """Record batches of drawn rows for one model: build once, then :meth:`batch` per slice.

    ``written``, ``pairs``, ``ceiling`` and ``columns`` are the precision and the inequality
    rule of the reference path (:meth:`synth.synthesizer.Synthesizer._rules`); ``implied`` its
    implications (:func:`synth.schema.implications.read_implications`).
    """

    def __init__(self, encoder: TableEncoder, domain: Domain, written: Precision, pairs: list[Inequality],
                 ceiling: dict[str, float], columns: dict[str, ColumnDomain], implied: list[Implication] = ()):
        self.encoder, self.domain, self.written = encoder, domain, written
        self.rule, self.implied = (pairs, ceiling, columns), list(implied)
        self.schema: pa.Schema | None = None  # the first slice's, for every batch (the reference: its first chunk's)
        self._first = threading.Event()
        # a slice may be shorter than a chunk unless an implication can change a column's type
        self.slices_keep_types = types_hold(self.implied, domain)
        ruled = set(ceiling) | {c for r in self.implied for c in (r.column, r.then_column)}
        self.constrained = [c for c in domain.all_columns if c in ruled]
        self.columns: dict[str, Column] = {}
        self.visits = None
        if hasattr(encoder, "to_long"):  # visit sequences: patients → their visits
            self.visits = VisitArrays(encoder, domain, written, self.rule, self.implied, self.constrained)
        else:
            self._plan()

    def batch(self, first: int, labels: np.ndarray | None, out: np.ndarray,
              chosen: dict[int, np.ndarray]) -> pa.RecordBatch:
        """The rows of one slice (``first``: the 0-based number of its first row or patient).
        Safe to call from several threads at once, the first slice's call started first."""
        try:
            return self._batch(first, labels, out, chosen)
        finally:
            if first == 0:
                self._first.set()  # made or failed: the other slices stop waiting

    def _batch(self, first: int, labels: np.ndarray | None, out: np.ndarray,
               chosen: dict[int, np.ndarray]) -> pa.RecordBatch:
        if self.visits is not None:
            arrays = self.visits.arrays(first, labels, out, chosen)
        else:
            arrays = {name: make(first, labels, out, chosen) for name, make in self.columns.items()}
            if self.constrained:
                arrays.update(self._constrained(labels, out, chosen))
        names = self.domain.all_columns
        schema = self._schema(first, lambda: pa.schema([pa.field(name, arrays[name].type) for name in names]))
        # an implication may turn a column of numbers into text in some slices only: the first slice's type
        return pa.RecordBatch.from_arrays([arrays[f.name].cast(f.type) for f in schema], schema=schema)

    def _schema(self, first: int, make: Callable[[], pa.Schema]) -> pa.Schema:
        """The first slice's schema (made by the slice at row 0; the others wait for it)."""
        if first == 0:
            self.schema = make()
            self._first.set()
        self._first.wait()
        if self.schema is None:
            raise RuntimeError("the first slice of rows failed")
        return self.schema

    def _plan(self) -> None:
        """One function per column not named in an inequality, from the drawn slice to its array."""
        lab, starts = self.domain.label, positions(self.domain)
        for col in self.domain.columns:
            if col.name in self.constrained:
                continue
            self.columns[col.name] = (numeric_column(col, starts[col.name], self.written.columns.get(col.name))
                                      if col.kind == "numerical" else categorical_column(col, starts[col.name]))
        for name in self.domain.all_columns:
            if name in self.columns or name in self.constrained or name in starts:
                continue
            if lab is not None and name == lab.name:
                table = lookup(lab)
                self.columns[name] = lambda first, labels, out, chosen, table=table, lab=lab: category_array(
                    lab, table, labels)
            elif name in self.domain.pii_columns:
                self.columns[name] = lambda first, labels, out, chosen, text=f"{name}_": pc.binary_join_element_wise(
                    text, pc.cast(pa.array(np.arange(first + 1, first + 1 + len(out))), pa.string()), "")
            else:  # id column: fresh ids
                self.columns[name] = lambda first, labels, out, chosen: pa.array(
                    np.arange(first + 1, first + 1 + len(out), dtype=np.int64))

    def _constrained(self, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]
                     ) -> dict[str, pa.Array]:
        """The columns named in an inequality or an implication, through the reference's pandas steps."""
        series, lab, starts = {}, self.domain.label, positions(self.domain)
        for col in self.domain.columns:
            if col.name in self.constrained:
                series[col.name] = decoded_series(col, starts[col.name], out, chosen)
        if lab is not None and lab.name in self.constrained:
            series[lab.name] = category_series(lab, labels)
        frame = pd.DataFrame({name: series[name] for name in self.constrained})
        frame = apply_implications(apply_inequalities(self.written.round(frame), *self.rule), self.implied)
        batch = frame_batch(frame, arrow_schema(frame))
        return {name: batch.column(name) for name in frame.columns}
