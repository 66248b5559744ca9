"""How sampled numbers are written: the precision the metadata states, not float64's 17 digits.

A generated weight is a float64 such as 3474.828779697418; written as is, it claims a precision
no scale has and makes a synthetic table easy to tell from a real one. Sampling writes:

- an integer column (``computer_representation`` ``Int64`` …) as whole numbers (the decoder
  already rounds it);
- a column with a public ``"synth_decimals": D`` (:func:`synth.schema.ranges.read_decimals`)
  with D decimals, kept inside its range on that grid (a range_max of 49.97 at one decimal
  gives 49.9 at most);
- any other number with ``DEFAULT_DIGITS`` significant digits, kept inside its range.

Rounding happens before the inequalities are applied (:func:`synth.sample.rules.apply_inequalities`)
and those raise a ``high`` value onto its own grid (:class:`WrittenColumn`), so every written row
still keeps them. It is post-processing of generated values and public metadata: it costs no ε,
and a seed still fixes every byte of the CSV.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from synth.privacy.domain import ColumnDomain, Domain
from synth.encode.inequalities import ceilings
from synth.schema.inequalities import Inequality
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import is_number
from synth.schema.ranges import read_decimals
from synth.schema.sequence import slot_name

__all__ = ["DEFAULT_DIGITS", "Precision", "WrittenColumn", "significant", "to_decimals"]

DEFAULT_DIGITS = 6  # a lab value or a weight to 6 significant digits: beyond what any assay reports
_EXACT_POWERS = 22  # 10.0 ** k is exact for k ≤ 22: rint(x · 10^k) / 10^k is then the closest double


@dataclass
class WrittenColumn(ColumnDomain):
    """A column domain with the grid its values are written on (``decimals``; None: significant
    digits, no grid), for :func:`synth.encode.table.value_step` and so the inequalities."""

    decimals: int | None = None


def _round_at(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """x rounded to ``d`` decimals (negative: tens, hundreds …), elementwise, |d| ≤ 22."""
    p = 10.0 ** np.abs(d)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(d >= 0, np.rint(x * p) / p, np.rint(x / p) * p)
    return np.where(np.isfinite(out), out, x)


def significant(x: np.ndarray, digits: int = DEFAULT_DIGITS) -> np.ndarray:
    """Each value to ``digits`` significant digits (NaN, 0 and ±inf unchanged); a value whose
    digits lie beyond 10^±22 goes through its decimal text, so it too prints in ``digits``."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x) & (x != 0)
    mag = np.floor(np.log10(np.abs(np.where(ok, x, 1.0))))
    d = (digits - 1 - mag).astype(int)
    plain = ok & (np.abs(d) <= _EXACT_POWERS)
    out = np.where(plain, _round_at(x, np.where(plain, d, 0)), x)
    for i in np.flatnonzero(ok & ~plain):  # magnitudes no trial column has: one by one
        out[i] = float(f"{x[i]:.{digits}g}")
    return out + 0.0  # no negative zero ("-0")


def to_decimals(x: np.ndarray, decimals: int) -> np.ndarray:
    """Each value to ``decimals`` decimals (NaN unchanged; no negative zero)."""
    return _round_at(np.asarray(x, dtype=float), np.full(np.shape(x), decimals)) + 0.0


def _inside(lo: float, hi: float, decimals: int | None) -> tuple[float, float]:
    """The smallest and largest written values inside [lo, hi]: on the grid of ``decimals``, or
    with ``DEFAULT_DIGITS`` significant digits (the bound itself when the grid has no point there)."""
    if decimals is None:
        a, b = (float(significant(np.array([v]))[0]) for v in (lo, hi))
        step = lambda v: 10.0 ** (math.floor(math.log10(abs(v))) - DEFAULT_DIGITS + 1) if v else 0.0  # noqa: E731
        a = a if a >= lo else float(significant(np.array([a + step(a)]))[0])
        b = b if b <= hi else float(significant(np.array([b - step(b)]))[0])
        return (a, b) if lo <= a <= b <= hi else (lo, hi)
    per = 10**decimals
    a, b = math.ceil(round(lo * per, 6)) / per, math.floor(round(hi * per, 6)) / per
    return (a, b) if a <= b else (lo, hi)


class Precision:
    """The written precision of each float column of a model's sampled frames."""

    def __init__(self, meta: Metadata, domain: Domain):
        decimals = read_decimals(meta)
        doms = {c.name: c for c in domain.columns}
        self.decimals: dict[str, int] = {}
        self.columns: dict[str, tuple[int | None, float, float]] = {}
        for name, spec in meta.columns.items():
            dom = doms.get(name) or doms.get(slot_name(name, 0))  # a visit column: its first slot's domain
            if not is_number(spec["sdtype"]) or dom is None or dom.kind != "numerical" or dom.integer:
                continue
            d = decimals.get(name)
            if d is not None:
                self.decimals[name] = d
            self.columns[name] = (d, *_inside(dom.lo, dom.hi, d))

    def round(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each float column written at its precision (other columns untouched)."""
        out = frame.copy()
        for name, (d, lo, hi) in self.columns.items():
            if name not in out or not pd.api.types.is_float_dtype(out[name]):
                continue
            x = out[name].to_numpy(dtype=float)
            rounded = significant(x) if d is None else to_decimals(x, d)
            out[name] = pd.Series(np.clip(rounded, lo, hi), index=out.index)
        return out

    def grid(self, pairs: list[Inequality], columns: dict[str, ColumnDomain]
             ) -> tuple[dict[str, float], dict[str, ColumnDomain]]:
        """The inequalities' ceilings and column domains with each column's written grid, so that a
        raised ``high`` lands on its own decimals (:func:`synth.sample.rules.apply_inequalities`)."""
        if not any(c in self.decimals for c in columns):
            return ceilings(pairs, columns), columns
        written = {c: WrittenColumn(**asdict(dom), decimals=self.decimals.get(c)) for c, dom in columns.items()}
        return ceilings(pairs, written), written
