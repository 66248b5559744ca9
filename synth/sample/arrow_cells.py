"""Drawn cells to Arrow arrays, column by column, with the values, types and nulls that the
reference path writes (decode to pandas, round, ``pa.Table.from_pandas`` of :func:`text_objects`):
the building blocks of :class:`synth.sample.arrow_rows.ArrowRows` (tables) and
:class:`synth.sample.arrow_visits.VisitArrays` (visit sequences).

Post-processing only: the inputs are generated rows (``out``: the generator's output, tanh
applied; ``chosen``: each softmax span's drawn cell) and public metadata or DP releases (the
domain). Reading anything else (a real row, a count of real values) would void the guarantee.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from synth.encode.table import NUMERIC_BINS, numeric_series, category_series, from_unit
from synth.sample.precision import significant, to_decimals
from synth.sample.draw import arrow_schema
from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.sdtypes import is_datetime

__all__ = ["text_objects", "frame_batch", "cell_values", "numbers", "lookup", "number_array", "numeric_column",
           "category_array", "categorical_column", "positions", "decoded_series", "Column"]

Column = Callable[[int, np.ndarray | None, np.ndarray, dict[int, np.ndarray]], pa.Array]
Rounding = tuple[int | None, float, float] | None  # (decimals or None: significant digits, lo, hi)


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


def positions(domain: Domain) -> dict[str, int]:
    """Each modelled column's first position in the generator's output (domain order)."""
    pos, starts = 0, {}
    for col in domain.columns:
        starts[col.name] = pos
        if col.kind == "numerical":
            pos += NUMERIC_BINS + 1 + (2 if col.nullable else 0)
        else:
            pos += len(col.categories) + (1 if col.nullable else 0)
    return starts


def cell_values(col: ColumnDomain, bins: np.ndarray, offsets: np.ndarray, missing_cells: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """A numerical column's values and missing flags from its drawn bins, its offsets in the bin
    (the tanh output) and its drawn missing cells (None: not nullable), as
    :meth:`TableEncoder.decode` computes them: elementwise, so any gather of the cells gives the
    same gather of the values."""
    x = np.clip(offsets.astype(float), -1, 1)
    values = from_unit(col, (bins + (x + 1) / 2) / NUMERIC_BINS)
    if col.integer:
        values = np.clip(np.round(values), np.ceil(col.lo), np.floor(col.hi))
    values = np.clip(values, col.lo, col.hi)
    missing = missing_cells == 1 if col.nullable else np.zeros(len(values), dtype=bool)
    return values, missing


def numbers(col: ColumnDomain, pos: int, out: np.ndarray, chosen: dict[int, np.ndarray]
            ) -> tuple[np.ndarray, np.ndarray]:
    """A numerical column's values and missing flags (:func:`cell_values`) for a drawn slice."""
    missing = chosen[pos + NUMERIC_BINS + 1] if col.nullable else None
    return cell_values(col, chosen[pos], out[:, pos + NUMERIC_BINS], missing)


def decoded_series(col: ColumnDomain, pos: int, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pd.Series:
    """One modelled column as :meth:`TableEncoder.decode` writes it (the reference's pandas values)."""
    if col.kind == "numerical":
        return numeric_series(col, *numbers(col, pos, out, chosen))
    return category_series(col, chosen[pos])


def lookup(col: ColumnDomain) -> pa.Array:
    """Each category's written value (index i: category i), typed as the reference writes it."""
    series = category_series(col, np.arange(len(col.values)))
    frame = series.to_frame(col.name)
    return frame_batch(frame, arrow_schema(frame)).column(0)


def number_array(col: ColumnDomain, values: np.ndarray, missing: np.ndarray, rounding: Rounding) -> pa.Array:
    """Numbers as the reference writes them: datetimes as text in their format, integers as
    int64, others as float64 at their written precision (``rounding``: Precision's entry)."""
    if is_datetime(col.sdtype):
        return pa.array(numeric_series(col, values, missing), type=pa.string(), from_pandas=True)
    if col.integer:
        return pa.array(values.astype(np.int64), mask=missing if missing.any() else None)
    x = np.where(missing, np.nan, values)
    if rounding is not None:
        d, lo, hi = rounding
        x = np.clip(significant(x) if d is None else to_decimals(x, d), lo, hi)
    return pa.array(x, from_pandas=True)  # NaN: null, as from_pandas writes it


def numeric_column(col: ColumnDomain, pos: int, rounding: Rounding) -> Column:
    """A numerical column's array from a drawn slice."""
    def make(first: int, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pa.Array:
        return number_array(col, *numbers(col, pos, out, chosen), rounding)

    return make


def category_array(col: ColumnDomain, table: pa.Array, idx: np.ndarray) -> pa.Array:
    """Drawn category cells (the last one past the categories: missing) → their written values."""
    missing = idx >= len(col.categories)
    return table.take(pa.array(np.minimum(idx, len(col.values) - 1), mask=missing if missing.any() else None))


def categorical_column(col: ColumnDomain, pos: int) -> Column:
    """A categorical column's array from a drawn slice."""
    table = lookup(col)

    def make(first: int, labels: np.ndarray | None, out: np.ndarray, chosen: dict[int, np.ndarray]) -> pa.Array:
        return category_array(col, table, chosen[pos])

    return make
