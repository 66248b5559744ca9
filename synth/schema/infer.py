"""Drafting metadata from a real export (``synth metadata infer``, :meth:`Metadata.infer`).

A draft is read off the data, so it is private until a person reviews it: every range_* value
is marked ``"range_public": false`` and every guess (an sdtype, a computer representation, a
sequence's static columns, how to read the file) is listed under ``"synth_review"``.

Exports need some cleaning first, and the draft records it under ``"synth_read"`` so that
``fit`` reads the file the same way: padded text values (``"No "``) are stripped, and text that
marks a missing value (``.``, ``NA``, SAS's ``.A``) is read as missing where it is the only thing
keeping a column of numbers from being numerical. A row-number column (``rownames``,
``Unnamed: 0``, or one that counts the rows) is never taken as the patient id. What was done is
returned as notes that name columns, never values or counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.schema.metadata import INFER_NOTE, REVIEW, Metadata
from synth.schema.reading import MISSING_MARKERS, READ_KEY, ReadOptions, clean_frame, is_text
from synth.schema.sdtypes import is_id, is_listed, is_modelled, is_pii

__all__ = ["draft_metadata", "is_row_number", "looks_like_free_text", "ROW_NUMBER_NAMES"]

ROW_NUMBER_NAMES = frozenset({"rownames", "row.names", "x", "index", "...1", "", "unnamed: 0"})
_SHOWN = 8  # columns named in one note


def is_row_number(name: Any, s: pd.Series, min_rows: int = 20) -> bool:
    """Whether column ``name`` numbers the rows: it counts 0..n-1 or 1..n, or it is named as R and
    pandas name row numbers (``rownames``, ``X``, ``Unnamed: 0``, ``...1``) and holds distinct whole numbers."""
    if len(s) <= min_rows or s.isna().any() or pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return False
    v = s.to_numpy(dtype=float)
    n = len(v)
    if np.array_equal(v, np.arange(n)) or np.array_equal(v, np.arange(1, n + 1)):
        return True
    named = str(name).strip().lower() in ROW_NUMBER_NAMES or str(name).lower().startswith("unnamed:")
    return named and bool((v == np.round(v)).all()) and len(np.unique(v)) == n


def looks_like_free_text(nonnull: pd.Series) -> bool:
    """Text of many words (comments, verbatim terms) rather than a code."""
    text = nonnull.astype(str)
    return bool(len(text)) and (text.str.len().mean() >= 20 or text.str.contains(r"\s\S+\s").mean() >= 0.5)


def _named(cols: list[str]) -> str:
    shown = ", ".join(f"'{c}'" for c in cols[:_SHOWN])
    more = f" and {len(cols) - _SHOWN} more" if len(cols) > _SHOWN else ""
    return ("column " if len(cols) == 1 else "columns ") + shown + more


def _markers(df: pd.DataFrame, decimal: str) -> set[str]:
    """Missing markers that are all that keeps some text column from reading as numbers."""
    found: set[str] = set()
    for col in df.columns:
        s = df[col]
        if not is_text(s):
            continue
        text = {str(v).strip() for v in s.dropna().unique()}
        markers = {t for t in text if t in MISSING_MARKERS or t == ""}
        rest = pd.Series(sorted(text - markers), dtype=object)
        if markers and len(rest):
            numbers = pd.to_numeric(rest.str.replace(decimal, ".", regex=False) if decimal != "." else rest,
                                    errors="coerce")
            if numbers.notna().all():
                found |= markers - {""}
    return found


def _column(s: pd.Series, n: int, max_categories: int) -> dict[str, Any]:
    """One column's drafted spec, from its (cleaned) values."""
    nonnull = s.dropna()
    if pd.api.types.is_bool_dtype(s):
        return {"sdtype": "boolean"}
    if pd.api.types.is_numeric_dtype(s):
        if nonnull.empty:  # nothing to draft a type from: numerical, with no range
            return {"sdtype": "numerical", "computer_representation": "Float"}
        nunique = nonnull.nunique()
        integral = bool((nonnull == nonnull.round()).all())
        if integral and nunique == n and n > max_categories:
            return {"sdtype": "id"}
        if nunique <= max_categories and integral:
            return {"sdtype": "categorical", "range_values": sorted(int(v) for v in nonnull.unique())}
        return {"sdtype": "numerical", "computer_representation": "Int64" if integral else "Float",
                "range_min": _plain(nonnull.min()), "range_max": _plain(nonnull.max())}
    parsed = pd.to_datetime(nonnull.map(str), errors="coerce", format="ISO8601") if len(nonnull) else nonnull
    if len(nonnull) and parsed.notna().all() and nonnull.astype(str).str.contains("-").all():
        return {"sdtype": "datetime", "datetime_format": "%Y-%m-%d",
                "range_min": str(parsed.min().date()), "range_max": str(parsed.max().date())}
    nunique = nonnull.nunique()
    if nunique > max_categories and nunique >= 0.5 * len(nonnull):  # DP would release none of its values
        return {"sdtype": "pii" if looks_like_free_text(nonnull) else "id"}
    return {"sdtype": "categorical", "range_values": sorted(str(v) for v in nonnull.unique())}


def draft_metadata(df: pd.DataFrame, table_name: str = "table", max_categories: int = 20,
                   sequence_key: str | None = None, sequence_index: str | None = None,
                   read: ReadOptions | None = None) -> tuple[Metadata, list[str]]:
    """(draft metadata, notes saying what was cleaned and guessed). ``read``: how ``df`` was read
    (it is recorded in the draft, with the cleaning found here added)."""
    read = read or ReadOptions()
    df = df.rename(columns=str)
    padded = [c for c in df.columns if is_text(df[c])
              and df[c].map(lambda v: isinstance(v, str) and v != v.strip()).any()]
    found = _markers(clean_frame(df, ReadOptions(strip_whitespace=True)), read.decimal) - set(read.na_values)
    options = ReadOptions(strip_whitespace=read.strip_whitespace or bool(padded),
                          na_values=tuple(read.na_values) + tuple(sorted(found)),
                          encoding=read.encoding, sep=read.sep, decimal=read.decimal)
    clean = clean_frame(df, options)
    notes = []
    if padded and not read.strip_whitespace:
        notes.append(f"{_named(padded)}: leading or trailing spaces stripped from text values "
                     "(synth_read.strip_whitespace)")
    if found:
        stripped = clean_frame(df, ReadOptions(strip_whitespace=options.strip_whitespace))
        marked = [c for c in df.columns if (clean[c].isna() & stripped[c].notna()).any()]
        notes.append(f"{_named(marked)}: missing-value markers read as missing (synth_read.na_values)")
    columns: dict[str, dict[str, Any]] = {}
    n = len(clean)
    rows = []
    for col in clean.columns:
        s = clean[col]
        spec = _column(s, n, max_categories)
        if col == sequence_index and is_listed(spec["sdtype"]) and pd.api.types.is_numeric_dtype(s):
            nonnull = s.dropna()  # a visit index is a time, not a category
            integral = bool((nonnull == nonnull.round()).all())
            spec = {"sdtype": "numerical", "computer_representation": "Int64" if integral else "Float",
                    "range_min": _plain(nonnull.min()), "range_max": _plain(nonnull.max())}
        if is_row_number(col, s, max_categories) and col != sequence_key:
            spec, rows = {"sdtype": "id"}, rows + [col]
        if is_modelled(spec["sdtype"]):
            spec["range_is_nullable"] = bool(s.isna().any())
            spec["range_public"] = False
        spec[REVIEW] = ["sdtype", "computer_representation"] if "computer_representation" in spec else ["sdtype"]
        columns[col] = spec
    meta = Metadata(columns=columns, table_name=table_name, extra={"synth_note": INFER_NOTE})
    reading = options.to_dict()
    if reading:
        review = [k for k, new in (("strip_whitespace", padded and not read.strip_whitespace),
                                   ("na_values", found)) if new]
        meta.extra[READ_KEY] = {**reading, **({REVIEW: review} if review else {})}
    if rows:
        notes.append(f"{_named(rows)}: row numbers, drafted as id (not modelled) and never as the patient id; "
                     "drop them from the CSV and the metadata")
    text = [c for c, s in columns.items() if is_pii(s["sdtype"])]
    if text:
        notes.append(f"{_named(text)}: free text, drafted as pii (not modelled): drop or code into categories")
    if sequence_key is None:
        ids = [c for c, s in columns.items() if is_id(s["sdtype"]) and c not in rows]
        if ids:
            meta.primary_key = ids[0]
            notes.append(f"primary_key: '{ids[0]}', the first column of distinct values; check it is the patient id")
        return meta, notes
    for role, col in (("--sequence-key", sequence_key), ("--sequence-index", sequence_index)):
        if col is None or col not in clean.columns:
            raise SynthError(f"{role}: column '{col}' is not in the CSV")
    columns[sequence_key] = {"sdtype": "id"}  # named by the user: nothing to review
    meta.sequence_key, meta.sequence_index = sequence_key, sequence_index
    grouped = clean.groupby(sequence_key)
    static = [c for c, s in columns.items() if c not in (sequence_key, sequence_index)
              and is_modelled(s["sdtype"]) and bool((grouped[c].nunique(dropna=False) <= 1).all())]
    meta.extra["synth_sequence"] = {"static_columns": static, REVIEW: ["static_columns"]}  # max_visits: if public
    return meta, notes


def _plain(value: Any) -> float | int:
    value = float(value)
    return int(value) if value.is_integer() else value
