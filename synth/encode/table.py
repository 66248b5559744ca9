"""Reversible encoding of rows to the generator's space, built from a Domain only.

Numerical (and datetime) columns: clipped to the domain's bounds, whose range is cut into
``NUMERIC_BINS`` equal-width bins (equal width in log(x) for a column whose public metadata
says ``"synth_scale": "log"``; in log(1 + ``DURATION_STEPS`` · x / range) for the "duration"
scale of visit times, see :mod:`synth.encode.sequence`): a one-hot of the bin plus the
position inside it scaled to [-1, 1] (so skewed columns and point masses such as many zeros
are easy to generate). A nullable column adds a two-way [present, missing] one-hot.
Categorical and boolean columns: one-hot over the domain's categories, plus a "missing" slot
when nullable. Decoding inverts this and returns values inside the domain with the domain's
types.

Privacy assumption: nothing here is fitted on data; every constant comes from the Domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from synth.privacy.domain import ColumnDomain, Domain
from synth.schema.timestamps import from_epoch_seconds

__all__ = ["Span", "CellBlock", "TableEncoder", "NUMERIC_BINS", "DURATION_STEPS", "value_step",
           "numeric_series"]

NUMERIC_BINS = 10
# The "duration" scale (visit times: the first visit's offset and the gaps between visits) is
# linear in log(1 + DURATION_STEPS · (x − lo) / (hi − lo)): its bins run from a 170th of the
# public range to over a third of it, so that both a first visit at day 0 and gaps of a few
# months inside a range of years get bins of their own (a schema rule; bench/RESULTS.md item 65).
DURATION_STEPS = 100.0


@dataclass(frozen=True)
class Span:
    """A block of the encoded row: ``activation`` is "tanh" (width 1) or "softmax"."""

    column: str
    start: int
    width: int
    activation: str


@dataclass(frozen=True)
class CellBlock:
    """One column's cells for a marginal table: its bin/category block, plus "missing" if any.

    A numerical column's cells are its ``NUMERIC_BINS`` bins and, when nullable, one cell for
    missing; a categorical column's cells are its one-hot slots (missing slot included).
    """

    column: str
    start: int
    width: int
    missing: int | None = None  # start of a numerical column's [present, missing] pair
    ordered: bool = False  # cells are ordered bins (a numerical column), not categories
    # A visit block's cells → the visit slots present (0/1 per slot): an attendance pattern
    # (synth.schema.slots). None: a visit count, cell j ↔ j + 1 visits (slots 0 … j present).
    presence: tuple[tuple[float, ...], ...] | None = None
    missing_category: bool = False  # a nullable categorical column: its last cell is "missing"

    @property
    def n_cells(self) -> int:
        return self.width + (1 if self.missing is not None else 0)

    def cells(self, encoded: np.ndarray) -> np.ndarray:
        """Each encoded row's cell index (exact one-hot rows, as :meth:`TableEncoder.encode` makes)."""
        idx = encoded[:, self.start:self.start + self.width].argmax(axis=1)
        if self.missing is not None:
            idx = np.where(encoded[:, self.missing + 1] > 0.5, self.width, idx)
        return idx


def visit_presence(block: CellBlock, slots: int) -> np.ndarray:
    """(cells, slots) 0/1: which visit slots each cell of a visit block has (its ``presence``,
    or for a visit count, slots 0 … j for cell j)."""
    if block.presence is not None:
        return np.asarray(block.presence, dtype=float)
    return (np.arange(slots)[None, :] <= np.arange(block.width)[:, None]).astype(float)


def to_unit(col: ColumnDomain, x: np.ndarray) -> np.ndarray:
    """Values → [0, 1] over the column's range: linear, linear in log(x) when ``col.scale`` is
    "log", or in log(1 + ``DURATION_STEPS`` · (x − lo) / (hi − lo)) when it is "duration"."""
    x = np.clip(x, col.lo, col.hi)
    if col.scale == "log":
        return (np.log(x) - np.log(col.lo)) / (np.log(col.hi) - np.log(col.lo))
    linear = (x - col.lo) / (col.hi - col.lo)
    if col.scale == "duration":
        return np.log1p(DURATION_STEPS * linear) / np.log1p(DURATION_STEPS)
    return linear


def from_unit(col: ColumnDomain, unit: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_unit`."""
    if col.scale == "log":
        return np.exp(np.log(col.lo) + unit * (np.log(col.hi) - np.log(col.lo)))
    if col.scale == "duration":
        unit = np.expm1(unit * np.log1p(DURATION_STEPS)) / DURATION_STEPS
    return col.lo + unit * (col.hi - col.lo)


class TableEncoder:
    """Encode/decode the modelled (non-label) columns of a Domain."""

    def __init__(self, domain: Domain):
        self.domain = domain
        self.spans: list[Span] = []
        self.cell_blocks: list[CellBlock] = []
        pos = 0
        for col in domain.columns:
            if col.kind == "numerical":
                start = pos
                self.spans.append(Span(col.name + "#bin", pos, NUMERIC_BINS, "softmax"))
                self.spans.append(Span(col.name, pos + NUMERIC_BINS, 1, "tanh"))
                pos += NUMERIC_BINS + 1
                missing = None
                if col.nullable:
                    self.spans.append(Span(col.name + "#missing", pos, 2, "softmax"))
                    missing = pos
                    pos += 2
                self.cell_blocks.append(CellBlock(col.name, start, NUMERIC_BINS, missing, ordered=True))
            else:
                width = len(col.categories) + (1 if col.nullable else 0)
                self.spans.append(Span(col.name, pos, width, "softmax"))
                self.cell_blocks.append(CellBlock(col.name, pos, width, missing_category=bool(col.nullable)))
                pos += width
        self.width = pos

    def noise_groups(self) -> list[int]:
        """Which spans share Gumbel noise: none in a table (one group per span)."""
        return list(range(len(self.spans)))

    # ------------------------------------------------------------------ rows
    def encode(self, data: pd.DataFrame) -> np.ndarray:
        """Coerced frame (see :func:`synth.schema.validate.coerce_frame`) → float32 array (n, width)."""
        n = len(data)
        out = np.zeros((n, self.width), dtype=np.float32)
        pos = 0
        for col in self.domain.columns:
            s = data[col.name]
            if col.kind == "numerical":
                x = s.to_numpy(dtype=float)
                missing = np.isnan(x)
                unit = to_unit(col, np.where(missing, col.lo, x))
                b = np.minimum((unit * NUMERIC_BINS).astype(int), NUMERIC_BINS - 1)
                out[np.arange(n), pos + b] = 1.0
                out[:, pos + NUMERIC_BINS] = np.where(missing, 0.0, 2 * (unit * NUMERIC_BINS - b) - 1)
                pos += NUMERIC_BINS + 1
                if col.nullable:
                    out[np.arange(n), pos + missing.astype(int)] = 1.0
                    pos += 2
            else:
                out[np.arange(n), pos + self._category_index(col, s)] = 1.0
                pos += len(col.categories) + (1 if col.nullable else 0)
        return out

    @staticmethod
    def _category_index(col: ColumnDomain, s: pd.Series) -> np.ndarray:
        """Index of each value's category; missing or unreleased values → the missing slot."""
        lookup = {k: i for i, k in enumerate(col.categories)}
        missing_slot = len(col.categories) if col.nullable else 0
        return s.map(lambda v: lookup.get(v, missing_slot)).to_numpy(dtype=int)

    def decode(self, encoded: np.ndarray, chosen: dict[int, np.ndarray] | None = None) -> pd.DataFrame:
        """Generator output (n, width) → typed DataFrame of the modelled columns, in domain order.

        Each softmax block's cell is ``chosen[start]`` when given (the sampler's draws), else its
        argmax (an encoded or already drawn row).
        """
        def cell(start: int, width: int) -> np.ndarray:
            if chosen is not None:
                return chosen[start]
            return encoded[:, start:start + width].argmax(axis=1)

        out: dict[str, pd.Series] = {}
        pos = 0
        for col in self.domain.columns:
            if col.kind == "numerical":
                b = cell(pos, NUMERIC_BINS)
                x = np.clip(encoded[:, pos + NUMERIC_BINS].astype(float), -1, 1)
                pos += NUMERIC_BINS + 1
                values = from_unit(col, (b + (x + 1) / 2) / NUMERIC_BINS)
                if col.integer:
                    values = np.clip(np.round(values), np.ceil(col.lo), np.floor(col.hi))
                missing = np.zeros(len(x), dtype=bool)
                values = np.clip(values, col.lo, col.hi)
                if col.nullable:
                    missing = cell(pos, 2) == 1
                    pos += 2
                out[col.name] = numeric_series(col, values, missing)
            else:
                width = len(col.categories) + (1 if col.nullable else 0)
                idx = cell(pos, width)
                pos += width
                out[col.name] = category_series(col, idx)
        return pd.DataFrame(out)


def category_series(col: ColumnDomain, idx: np.ndarray) -> pd.Series:
    """Category indices → values with the domain's native type; the missing slot → NA."""
    missing = idx >= len(col.categories)
    values = np.array(col.values, dtype=object)[np.minimum(idx, len(col.values) - 1)]
    if col.sdtype == "boolean":
        s = pd.Series(values, dtype="boolean")
        return s.mask(missing) if missing.any() or col.nullable else s.astype(bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in col.values):
        s = pd.Series(values.astype(np.int64))
        return s.astype("Int64").mask(missing) if col.nullable else s
    s = pd.Series(values, dtype=object)
    return s.mask(missing) if col.nullable else s


_TIME_FIELDS = ("%H", "%I", "%M", "%S", "%f", "%X", "%c", "%T", "%s")
DEFAULT_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def value_step(col: ColumnDomain) -> float:
    """The grid a numerical column's written values lie on: 1 for integers, a day (in seconds)
    for a date-only datetime, a second for one with a time of day, 10^-D for a column written
    with D decimals (:class:`synth.sample.precision.WrittenColumn`), 0 for continuous values."""
    if col.sdtype == "datetime":
        fmt = col.datetime_format or DEFAULT_DATETIME_FORMAT
        return 1.0 if any(t in fmt for t in _TIME_FIELDS) else 86400.0
    if col.integer:
        return 1.0
    decimals = getattr(col, "decimals", None)
    return 0.0 if decimals is None else 10.0 ** -decimals


def numeric_series(col: ColumnDomain, values: np.ndarray, missing: np.ndarray) -> pd.Series:
    """Numbers on the domain's scale written as the column's values: datetimes in their format
    (rounded to whole days when date-only), integers as int64 (Int64 when nullable), missing
    where ``missing``. Post-processing of the values given; reads no real data."""
    if col.sdtype == "datetime":
        fmt = col.datetime_format or DEFAULT_DATETIME_FORMAT
        unit = value_step(col)  # date-only: whole days
        stamps = from_epoch_seconds(np.round(values / unit) * unit)
        return pd.Series(stamps.strftime(fmt), dtype=object).mask(missing)
    if col.integer:
        s = pd.Series(values.astype(np.int64))
        return s.astype("Int64").mask(missing) if col.nullable else s
    return pd.Series(values).mask(missing)
