"""Drawn rows straight to Arrow record batches, as the CSV writes them (the streaming sampler).

Each slice of drawn rows (:func:`synth.models.sampling.draw_slices`) becomes one record batch
holding the values, types and nulls of the reference path: decode to pandas
(:func:`synth.models.sampling.decode_rows`), :meth:`~synth.io.precision.Precision.round`,
:func:`~synth.encode.inequalities.apply_inequalities`,
:func:`~synth.schema.implications.apply_implications`, then ``pa.Table.from_pandas`` of
:func:`text_objects` (:func:`synth.io.csv_out.write_csv_chunks`). The CSV is therefore
byte-identical for a seed (tested against that path). A table's columns go from NumPy to Arrow;
columns named in an inequality or an implication, and visit sequences, go through the
reference's pandas steps, one slice at a time.

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

from synth.encode.table import NUMERIC_BINS, TableEncoder, _numeric_series, category_series, from_unit
from synth.io.precision import Precision, significant, to_decimals
from synth.models.sampling import arrow_schema, decode_rows
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.implications import Implication, apply_implications
from synth.encode.inequalities import apply_inequalities
from synth.schema.inequalities import Inequality

__all__ = ["ArrowRows", "text_objects", "frame_batch"]

Column = Callable[[int, np.ndarray | None, np.ndarray, dict[int, np.ndarray]], pa.Array]


def text_objects(chunk: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text (a categorical may mix 0, 0.5 and "x" from its range_values)."""
    out = chunk.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: v if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                else str(v))
    return out


def frame_batch(frame: pd.DataFrame, schema: pa.Schema) -> pa.RecordBatch:
    """``pa.Table.from_pandas(text_objects(frame), schema)`` as one batch, without the value-by-value
    ``str`` of an object column that holds text only (Arrow takes it as it is)."""
    arrays = []
    for field in schema:
        s = frame[field.name]
        if s.dtype == object:
            try:
                arrays.append(pa.array(s, type=pa.string(), from_pandas=True))
                continue
            except (pa.ArrowTypeError, pa.ArrowInvalid):  # numbers or booleans among the values
                s = text_objects(s.to_frame())[field.name]
        arrays.append(pa.Array.from_pandas(s, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _numbers(col: ColumnDomain, pos: int, out: np.ndarray, chosen: dict[int, np.ndarray]
             ) -> tuple[np.ndarray, np.ndarray]:
    """A numerical column's values and missing flags, as :meth:`TableEncoder.decode` computes them."""
    b = chosen[pos]
    x = np.clip(out[:, pos + NUMERIC_BINS].astype(float), -1, 1)
    values = from_unit(col, (b + (x + 1) / 2) / NUMERIC_BINS)
    if col.integer:
        values = np.clip(np.round(values), np.ceil(col.lo), np.floor(col.hi))
    values = np.clip(values, col.lo, col.hi)
    missing = chosen[pos + NUMERIC_BINS + 1] == 1 if col.nullable else np.zeros(len(values), dtype=bool)
    return values, missing


def _lookup(col: ColumnDomain) -> pa.Array:
    """Each category's written value (index i: category i), typed as the reference writes it."""
    series = category_series(col, np.arange(len(col.values)))
    frame = series.to_frame(col.name)
    return frame_batch(frame, arrow_schema(frame)).column(0)


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
        self.sequences = hasattr(encoder, "to_long")
        ruled = set(ceiling) | {c for r in self.implied for c in (r.column, r.then_column)}
        self.constrained = [c for c in domain.all_columns if c in ruled]
        self.columns: dict[str, Column] = {}
        if not self.sequences:
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
        if self.sequences:  # the reference's pandas steps, a slice at a time
            frame = decode_rows(self.encoder, self.domain, out, chosen, labels, first + 1)
            frame = apply_implications(apply_inequalities(self.written.round(frame), *self.rule), self.implied)
            return frame_batch(frame, self._schema(first, lambda: arrow_schema(frame)))
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
        lab, pos = self.domain.label, 0
        for col in self.domain.columns:
            start = pos
            if col.kind == "numerical":
                pos += NUMERIC_BINS + 1 + (2 if col.nullable else 0)
                if col.name not in self.constrained:
                    self.columns[col.name] = self._numeric(col, start)
            else:
                pos += len(col.categories) + (1 if col.nullable else 0)
                if col.name not in self.constrained:
                    self.columns[col.name] = self._categorical(col, start)
        for name in self.domain.all_columns:
            if name in self.columns or name in self.constrained or any(c.name == name for c in self.domain.columns):
                continue
            if lab is not None and name == lab.name:
                table = _lookup(lab)
                self.columns[name] = lambda first, labels, out, chosen, table=table: table.take(labels)
            elif name in self.domain.pii_columns:
                self.columns[name] = lambda first, labels, out, chosen, text=f"{name}_": pc.binary_join_element_wise(
                    text, pc.cast(pa.array(np.arange(first + 1, first + 1 + len(out))), pa.string()), "")
            else:  # id column: fresh ids
                self.columns[name] = lambda first, labels, out, chosen: pa.array(
                    np.arange(first + 1, first + 1 + len(out), dtype=np.int64))

    def _numeric(self, col: ColumnDomain, pos: int) -> Column:
        rounding = self.written.columns.get(col.name)

        def make(first: int, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pa.Array:
            values, missing = _numbers(col, pos, out, chosen)
            if col.sdtype == "datetime":
                return pa.array(_numeric_series(col, values, missing), type=pa.string(), from_pandas=True)
            if col.integer:
                return pa.array(values.astype(np.int64), mask=missing if missing.any() else None)
            x = np.where(missing, np.nan, values)
            if rounding is not None:
                d, lo, hi = rounding
                x = np.clip(significant(x) if d is None else to_decimals(x, d), lo, hi)
            return pa.array(x, from_pandas=True)  # NaN: null, as from_pandas writes it

        return make

    def _categorical(self, col: ColumnDomain, pos: int) -> Column:
        table, n = _lookup(col), len(col.categories)

        def make(first: int, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pa.Array:
            idx = chosen[pos]
            missing = idx >= n
            return table.take(pa.array(np.minimum(idx, len(col.values) - 1), mask=missing if missing.any() else None))

        return make

    def _constrained(self, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]
                     ) -> dict[str, pa.Array]:
        """The columns named in an inequality or an implication, through the reference's pandas steps."""
        pos, series, lab = 0, {}, self.domain.label
        for col in self.domain.columns:
            if col.kind == "numerical":
                if col.name in self.constrained:
                    series[col.name] = _numeric_series(col, *_numbers(col, pos, out, chosen))
                pos += NUMERIC_BINS + 1 + (2 if col.nullable else 0)
            else:
                if col.name in self.constrained:
                    series[col.name] = category_series(col, chosen[pos])
                pos += len(col.categories) + (1 if col.nullable else 0)
        if lab is not None and lab.name in self.constrained:
            series[lab.name] = category_series(lab, labels)
        frame = pd.DataFrame({name: series[name] for name in self.constrained})
        frame = apply_implications(apply_inequalities(self.written.round(frame), *self.rule), self.implied)
        batch = frame_batch(frame, arrow_schema(frame))
        return {name: batch.column(name) for name in frame.columns}
