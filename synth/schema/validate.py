"""Check a DataFrame against its metadata and coerce it to model-ready types.

Privacy assumption: these checks run on the data holder's machine and nothing computed here is
stored in a model file or released. Their messages may still be shared (a notebook's output), so
they name columns, files and the metadata's public constraints, never a value, count or row of
the data: the data holder finds the rows in their own file.
"""

from __future__ import annotations

import csv
import difflib
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.schema.metadata import Metadata

__all__ = ["category_key", "check_patient_ids", "coerce_frame", "read_csv", "check_label"]

MODELLED = ("numerical", "categorical", "boolean", "datetime")


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


def _header(p: Path) -> list[str]:
    with open(p, newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f), [])


def read_csv(path: str) -> pd.DataFrame:
    """Read a CSV with one-line errors for a missing, unreadable or empty file."""
    p = Path(path)
    if not p.is_file():
        raise SynthError(f"CSV file '{path}' not found")
    try:
        df = pd.read_csv(p, low_memory=False)
        header = _header(p)
    except pd.errors.EmptyDataError as exc:
        raise SynthError(f"CSV file '{path}' is empty") from exc
    except UnicodeDecodeError as exc:  # its message quotes a byte of the data
        raise SynthError(f"CSV file '{path}' is not UTF-8 text; save it as UTF-8") from exc
    except (pd.errors.ParserError, csv.Error) as exc:  # a malformed file: the parser's line number helps
        raise SynthError(f"CSV file '{path}' could not be parsed: {str(exc).splitlines()[0]}") from exc
    if len(header) == 1:
        other = [d for d in (";", "\t", "|") if d in header[0]]
        if other:
            shown = "tab" if other[0] == "\t" else f"'{other[0]}'"
            raise SynthError(f"CSV file '{path}' looks separated by {shown}, not commas (its header reads as one "
                             f"column); save it as comma-separated")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SynthError(f"CSV file '{path}': column '{repeated[0]}' appears more than once in the header")
    if df.empty:
        raise SynthError(f"CSV file '{path}' has a header but no rows")
    return df


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_columns(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> None:
    csv_cols = [str(c) for c in df.columns]
    for col in meta.columns:
        if col not in csv_cols:
            raise SynthError(f"column '{col}' from the metadata is not in {source}{_suggest(col, csv_cols)}")
    for col in csv_cols:
        if col not in meta.columns:
            raise SynthError(
                f"column '{col}' of {source} is not in the metadata{_suggest(col, list(meta.columns))}"
            )


def check_label(meta: Metadata, label: str | None) -> None:
    if label is None:
        return
    if label not in meta.columns:
        raise SynthError(f"--label: column '{label}' is not in the metadata{_suggest(label, list(meta.columns))}")
    if meta.sdtype(label) not in ("categorical", "boolean"):
        raise SynthError(
            f"--label: column '{label}' is {meta.sdtype(label)}; the label must be categorical or boolean"
        )


def coerce_frame(df: pd.DataFrame, meta: Metadata, source: str = "the CSV") -> pd.DataFrame:
    """Return the modelled columns typed for encoding.

    numerical → float64; datetime → float64 seconds since 1970; categorical/boolean → object
    holding :func:`category_key` strings. id and pii columns are dropped (never modelled).
    """
    if len(df) == 0:
        raise SynthError(f"{source} has no rows")
    df = df.rename(columns=str)
    check_columns(df, meta, source)
    out = {}
    for col, spec in meta.columns.items():
        sdtype = spec["sdtype"]
        if sdtype not in MODELLED:
            continue
        s = df[col]
        if sdtype == "numerical":
            out[col] = _numbers(s, col, source)
        elif sdtype == "datetime":
            out[col] = _dates(s, col, spec.get("datetime_format"), source)
        elif sdtype == "boolean":
            out[col] = _booleans(s, col, source)
        else:
            out[col] = s.map(category_key).astype(object)
    return pd.DataFrame(out, index=df.index)


def _bad_values(col: str, source: str, sdtype: str, expected: str) -> SynthError:
    """Some values of ``col`` are not what its sdtype needs: the column and what is expected, never
    the value or its row (the message may be shared; the data holder can look in their file)."""
    return SynthError(f"column '{col}' of {source} is {sdtype}, but some of its values are not {expected}; "
                      "correct them in the data, or give the column another sdtype in the metadata")


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


def _numbers(s: pd.Series, col: str, source: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        raise _bad_values(col, source, "numerical", "numbers")
    num = num.astype(float)
    if np.isinf(num).any():
        raise _bad_values(col, source, "numerical", "finite numbers")
    return num


def _dates(s: pd.Series, col: str, fmt: str | None, source: str) -> pd.Series:
    parsed = pd.to_datetime(s, errors="coerce", format=fmt) if fmt else pd.to_datetime(s, errors="coerce")
    bad = parsed.isna() & s.notna()
    if bad.any():
        raise _bad_values(col, source, "datetime", f"dates in format {fmt}" if fmt else "dates")
    seconds = parsed.astype("int64").astype(float) / 1e9
    return seconds.where(parsed.notna(), np.nan)


_TRUE = {"true", "1", "yes", "t", "y", "1.0"}
_FALSE = {"false", "0", "no", "f", "n", "0.0"}


def _booleans(s: pd.Series, col: str, source: str) -> pd.Series:
    text = s.map(lambda v: np.nan if pd.isna(v) else str(v).strip().lower())
    bad = text.notna() & ~text.isin(_TRUE | _FALSE)
    if bad.any():
        raise _bad_values(col, source, "boolean", "true/false (or yes/no, t/f, y/n, 1/0)")
    return text.map(lambda v: v if pd.isna(v) else str(v in _TRUE)).astype(object)
