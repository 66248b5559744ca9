"""Check a DataFrame against its metadata and coerce it to model-ready types.

Privacy assumption: these checks run on the data holder's machine and nothing computed here is
stored in a model file or released. Their messages may still be shared (a notebook's output), so
they name columns, files and the metadata's public constraints, never a value, count or row of
the data: the data holder finds the rows in their own file.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import FIX_IN_METADATA, SynthError
from synth.schema.metadata import Metadata
from synth.schema.timestamps import epoch_seconds
from synth.schema.reading import MISSING_MARKERS, read_csv
from synth.schema.sdtypes import MODELLED, is_categorical

__all__ = ["category_key", "check_patient_ids", "coerce_frame", "read_csv", "check_label", "listed_only"]


def category_key(value: Any) -> Any:
    """Canonical string for a category value (1, 1.0 and "1" are one category); NaN stays NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return np.nan
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_columns(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> None:
    """Stop unless every column of the metadata is in ``df`` and (unless its ``synth_read`` says
    ``drop_unlisted``) every column of ``df`` is in the metadata."""
    csv_cols = [str(c) for c in df.columns]
    for col in meta.columns:
        if col not in csv_cols:
            raise SynthError(f"column '{col}' from the metadata is not in {source}{_suggest(col, csv_cols)}")
    if meta.read_options().drop_unlisted:
        return
    for col in csv_cols:
        if col not in meta.columns:
            raise SynthError(
                f"column '{col}' of {source} is not in the metadata{_suggest(col, list(meta.columns))}; list it, "
                "or give synth_read \"drop_unlisted\": true to keep only the metadata's columns"
            )


def listed_only(df: pd.DataFrame, meta: Metadata) -> pd.DataFrame:
    """``df`` without the columns the metadata does not list, where its ``synth_read`` says
    ``drop_unlisted`` (else ``df`` as it is: :func:`check_columns` names an unlisted column)."""
    if not meta.read_options().drop_unlisted:
        return df
    return df.loc[:, [str(c) in meta.columns for c in df.columns]]


def check_label(meta: Metadata, label: str | None) -> None:
    if label is None:
        return
    if label not in meta.columns:
        raise SynthError(f"label column '{label}' is not in the metadata{_suggest(label, list(meta.columns))}")
    if not is_categorical(meta.sdtype(label)):
        raise SynthError(
            f"label column '{label}' is {meta.sdtype(label)}; the label must be categorical or boolean"
        )


def coerce_frame(df: pd.DataFrame, meta: Metadata, source: str = "the CSV", public: bool = False) -> pd.DataFrame:
    """Return the modelled columns typed for encoding.

    numerical → float64; datetime → float64 seconds since 1970; categorical/boolean → object
    holding :func:`category_key` strings. id and pii columns are dropped (never modelled).
    ``public``: also check the metadata's public ``range_values`` and ``range_is_nullable``.
    Every column in trouble is named in one error, so that the data is fixed in one pass.
    """
    if len(df) == 0:
        raise SynthError(f"{source} has no rows")
    df = df.rename(columns=str)
    check_columns(df, meta, source)
    out, problems = {}, _Problems()
    for col, spec in meta.columns.items():
        sdtype = spec["sdtype"]
        if sdtype not in MODELLED:
            continue
        s = df[col]
        if sdtype == "numerical":
            out[col] = _numbers(s, col, problems)
        elif sdtype == "datetime":
            out[col] = _dates(s, col, spec.get("datetime_format"), problems)
        elif sdtype == "boolean":
            out[col] = _booleans(s, col, problems)
        else:
            out[col] = s.map(category_key).astype(object)
        if public:
            _check_public(meta, col, out[col], s, problems)
    problems.raise_any(source, visits=meta.sequence_key is not None)
    return pd.DataFrame(out, index=df.index)


class _Problems:
    """Columns in trouble, by what is wrong, and hints (what the values look like, never what they are)."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}  # (sdtype, expected) → (column, hints)

    def add(self, kind: tuple[str, str], col: str, hints: list[str] | tuple[str, ...] = ()) -> None:
        self.kinds.setdefault(kind, []).append((col, list(hints)))

    def raise_any(self, source: str, visits: bool = False) -> None:
        if not self.kinds:
            return
        parts, fixes = [], []
        for (sdtype, expected), entries in self.kinds.items():
            cols = [c for c, _ in entries]
            one = len(cols) == 1
            named = ("column " if one else "columns ") + ", ".join(f"'{c}'" for c in cols)
            at = " at some visit" if visits else ""
            if sdtype == "range_values":
                part = (f"{named} {'holds a value' if one else 'hold values'} outside "
                        f"{'its' if one else 'their'} range_values{at}")
            elif sdtype == "nullable":
                part = (f"{named} {'has' if one else 'have'} missing values{' at some visits' if visits else ''} "
                        "but the metadata says range_is_nullable: false")
            else:
                part = (f"{named} of {source} {'is' if one else 'are'} {sdtype}, but some of "
                        f"{'its' if one else 'their'} values are not {expected}")
            hints = []
            for hint in HINTS:
                having = [c for c, h in entries if hint in h]
                if having:
                    where = "" if one else f"in {', '.join(f'{c!r}' for c in having)} "
                    hints.append(where + HINTS[hint])
            parts.append(part + (f" ({'; '.join(hints)})" if hints else ""))
            fix = (FIX_IN_METADATA if sdtype in ("range_values", "nullable") else
                   "correct them in the data, or give the column another sdtype in the metadata")
            if fix not in fixes:
                fixes.append(fix)
        prefix = "" if any(k[0] not in ("range_values", "nullable") for k in self.kinds) else f"{source}: "
        raise SynthError(prefix + "; ".join(parts + fixes))


HINTS = {
    "markers": "some look like missing-value markers: list them with --na-values, or na_values under synth_read",
    "spaces": "some have leading or trailing spaces: give --strip-whitespace, or strip_whitespace under synth_read",
    "decimal": "some have a decimal comma: give --decimal ',', or decimal under synth_read",
}
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def _hints(raw: pd.Series, allowed: set[str] | None = None) -> list[str]:
    """What the offending raw values look like (for the message's hints; the values stay unsaid)."""
    text = [str(v) for v in raw.dropna().unique()]
    out = []
    if text and all(t.strip() in MISSING_MARKERS or t.strip() == "" for t in text):
        out.append("markers")
    stripped = {t.strip() for t in text}
    if any(t != t.strip() for t in text) and (allowed is None or stripped <= allowed | MISSING_MARKERS):
        out.append("spaces")
    if allowed is None and any(_DECIMAL_COMMA.match(t) for t in text):
        out.append("decimal")
    return out


def _check_public(meta: Metadata, col: str, coerced: pd.Series, raw: pd.Series, problems: _Problems) -> None:
    """The column against its public range_values and range_is_nullable (what build_domain and the
    visit checks would stop at one column at a time)."""
    if meta.public_nullable(col) is False and raw.isna().any():
        problems.add(("nullable", ""), col)
    values = meta.public_values(col) if is_categorical(meta.sdtype(col)) else None
    if values is not None:
        keys = {category_key(v) for v in values}
        outside = coerced.notna() & ~coerced.isin(keys)
        if outside.any():
            problems.add(("range_values", ""), col, _hints(raw[outside], keys))


def check_patient_ids(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> None:
    """A table of one row per patient (no ``sequence_key``) whose metadata declares the patient id
    (``primary_key``) must hold each id once: the guarantee is for one patient, and a patient on
    two rows would count twice. Says which column, never which ids or how many."""
    key = meta.primary_key
    if key is None or meta.sequence_key is not None or key not in df.columns:
        return
    ids = df[key]
    if ids.isna().any():
        raise SynthError(f"{source}: id column '{key}' (the metadata's primary_key) is missing in some rows; "
                         "give every row its patient's id")
    if ids.map(category_key).duplicated().any():
        raise SynthError(f"{source}: id column '{key}' (the metadata's primary_key) repeats, so some patient has "
                         "more than one row and the guarantee for one patient would not hold; de-duplicate the "
                         f"table to one row per patient, or declare it long-format (\"sequence_key\": \"{key}\" "
                         "and a sequence_index, docs/sequences.md)")


def _numbers(s: pd.Series, col: str, problems: _Problems) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        problems.add(("numerical", "numbers"), col, _hints(s[bad]))
    num = num.astype(float)
    if np.isinf(num).any():
        problems.add(("numerical", "finite numbers"), col)
    return num


def _dates(s: pd.Series, col: str, fmt: str | None, problems: _Problems) -> pd.Series:
    parsed = pd.to_datetime(s, errors="coerce", format=fmt) if fmt else pd.to_datetime(s, errors="coerce")
    bad = parsed.isna() & s.notna()
    if bad.any():
        problems.add(("datetime", f"dates in format {fmt}" if fmt else "dates"), col, _hints(s[bad]))
    return pd.Series(epoch_seconds(parsed), index=s.index)


_TRUE = {"true", "1", "yes", "t", "y", "1.0"}
_FALSE = {"false", "0", "no", "f", "n", "0.0"}


def _booleans(s: pd.Series, col: str, problems: _Problems) -> pd.Series:
    text = s.map(lambda v: np.nan if pd.isna(v) else str(v).strip().lower())
    bad = text.notna() & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        problems.add(("boolean", "true/false (or yes/no, t/f, y/n, 1/0)"), col, _hints(s[bad]))
    return text.map(lambda v: v if pd.isna(v) else str(v in _TRUE)).astype(object)
