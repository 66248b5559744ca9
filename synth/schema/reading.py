"""Reading a CSV export as the metadata says: encoding, separator, decimal mark, padding, missing markers.

Real exports are rarely plain UTF-8 with commas: Windows tools write cp1252, European locales
write ``;`` with decimal commas, SAS and Stata write ``.`` for a missing number, and categories
come padded (``"No "``). How to read a file is stated once, in the metadata's top-level
``"synth_read"`` object (``metadata infer`` drafts it), and the CLI's options of the same names
override it for one run::

    "synth_read": {"strip_whitespace": true, "na_values": [".", "NA"],
                   "encoding": "cp1252", "sep": ";", "decimal": ",", "drop_unlisted": true}

``drop_unlisted`` keeps only the columns the metadata lists (a wide export cut to the columns
worth synthesizing, without editing the file); without it an unlisted column is an error, since
it is usually a typo.

Privacy: reading computes nothing about the data. Errors name the file, the option and what is
expected, never a value or a row of the file.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.options import require_file

__all__ = ["ReadOptions", "READ_KEY", "read_options", "read_csv", "clean_frame", "is_text", "MISSING_MARKERS"]

READ_KEY = "synth_read"
# Text that exports write for a missing value and pandas does not already read as missing
# ("NA", "N/A", "NaN", "null", "" and a few more it does). SAS writes "." and ".A" … ".Z".
MISSING_MARKERS = frozenset({".", "-", "--", "?", "na", "n.a.", "N.A.", "missing", "Missing", "MISSING",
                             "none", "ND", "NR", "._", *(f".{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                             "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A"})
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"  # .xlsx/.ods, and the older .xls


@dataclass(frozen=True)
class ReadOptions:
    """How to read one export; the defaults read a plain UTF-8, comma-separated CSV unchanged."""

    strip_whitespace: bool = False  # leading and trailing spaces of text values removed
    na_values: tuple[str, ...] = ()  # text (or numbers, such as -99) that means missing
    encoding: str | None = None  # None: UTF-8 (with or without a byte-order mark)
    sep: str = ","
    decimal: str = "."
    drop_unlisted: bool = False  # the CSV's columns the metadata does not list are dropped as it is read

    def to_dict(self) -> dict[str, Any]:
        """The options that differ from the defaults, as ``synth_read`` holds them."""
        default = ReadOptions()
        out = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}
        if "na_values" in out:
            out["na_values"] = list(out["na_values"])
        return out


def _checked(values: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` (option name → value, None for not given) checked; ``where`` names them in errors."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        name = where.format(key)
        if key in ("strip_whitespace", "drop_unlisted"):
            if not isinstance(value, bool):
                raise SynthError(f"{name} must be true or false")
        elif key == "na_values":
            if isinstance(value, str):
                value = [v for v in value.split(",") if v != ""]
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
                raise SynthError(f"{name} must be a list of markers (text or numbers) that mean missing")
            value = tuple(str(v) if isinstance(v, str) else _number_text(v) for v in value)
        elif key == "encoding":
            try:
                codecs.lookup(str(value))
            except LookupError:
                raise SynthError(f"{name}: unknown encoding '{value}' (cp1252, latin-1, utf-16, …)") from None
        elif key in ("sep", "decimal"):
            value = "\t" if value in ("\\t", "tab") else value
            if not isinstance(value, str) or len(value) != 1 or value in "\"\r\n":
                raise SynthError(f"{name} must be one character, such as ',' ';' or tab")
        out[key] = value
    return out


def _number_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def read_options(extra: dict[str, Any] | None = None, **overrides: Any) -> ReadOptions:
    """The metadata's ``synth_read`` (``extra``: its top-level synth_* keys), with ``overrides``
    (the CLI's options; None: not given) taking precedence."""
    spec = (extra or {}).get(READ_KEY, {})
    if not isinstance(spec, dict):
        raise SynthError(f'metadata: {READ_KEY} must be an object such as {{"strip_whitespace": true, '
                         f'"na_values": ["."]}}')
    names = {f.name for f in fields(ReadOptions)}
    unknown = sorted(set(spec) - names - {"synth_review"})
    if unknown:
        raise SynthError(f"metadata: {READ_KEY} has an unknown key '{unknown[0]}'; expected one of "
                         f"{', '.join(sorted(names))}")
    base = _checked({k: spec.get(k) for k in names}, f"metadata: {READ_KEY}.{{}}")
    given = _checked({k: v for k, v in overrides.items() if k in names}, "--{}")
    merged = {**base, **given}
    if merged.get("sep", ",") == merged.get("decimal", "."):
        raise SynthError("--sep and --decimal (or synth_read's sep and decimal) must differ")
    return ReadOptions(**merged)


def _sniff(p: Path, path: str) -> None:
    """A workbook or another binary file, named as such rather than as a text that will not decode."""
    with open(p, "rb") as f:
        head = f.read(4096)
    if head.startswith((_ZIP, _OLE)):
        raise SynthError(f"CSV file '{path}' is a spreadsheet workbook (Excel or similar), not a CSV: open it and "
                         "save the sheet as CSV (\"CSV UTF-8\"), then give that file")
    if b"\x00" in head and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SynthError(f"CSV file '{path}' is not a text file (a SAS, Stata or other binary export?); "
                         "export the table as CSV")


def _header(p: Path, options: ReadOptions) -> list[str]:
    with open(p, newline="", encoding=options.encoding or "utf-8-sig") as f:
        return next(csv.reader(f, delimiter=options.sep), [])


def read_csv(path: str, options: ReadOptions | None = None) -> pd.DataFrame:
    """Read a CSV as ``options`` say, with one-line errors for a missing, unreadable or empty file,
    a workbook, an encoding other than the one given, or a separator other than the one given."""
    options = options or ReadOptions()
    p = require_file(path, "CSV file")
    _sniff(p, path)
    try:
        df = pd.read_csv(p, low_memory=False, encoding=options.encoding, sep=options.sep, decimal=options.decimal,
                         na_values=list(options.na_values) or None)
        header = _header(p, options)
    except pd.errors.EmptyDataError as exc:
        raise SynthError(f"CSV file '{path}' is empty") from exc
    except UnicodeError as exc:  # its message quotes a byte of the data
        if options.encoding is None:
            raise SynthError(f"CSV file '{path}' is not UTF-8 text; give its encoding with --encoding (cp1252 for "
                             "most Windows exports, latin-1), or save it as UTF-8") from exc
        raise SynthError(f"CSV file '{path}' is not {options.encoding} text; give its encoding with --encoding, "
                         "or save it as UTF-8") from exc
    except (pd.errors.ParserError, csv.Error) as exc:  # a malformed file: the parser's line number helps
        raise SynthError(f"CSV file '{path}' could not be parsed: {str(exc).splitlines()[0]}") from exc
    if len(header) == 1:
        other = [d for d in (";", "\t", "|", ",") if d in header[0] and d != options.sep]
        if other:
            shown = "tab" if other[0] == "\t" else f"'{other[0]}'"
            given = {"\t": "tab", ",": "commas"}.get(options.sep, f"'{options.sep}'")
            decimal = " (and --decimal ',' if its numbers have decimal commas)" if other[0] == ";" else ""
            raise SynthError(f"CSV file '{path}' looks separated by {shown}, not {given} (its header reads as one "
                             f"column); give --sep {shown}{decimal}, or save it as comma-separated")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SynthError(f"CSV file '{path}': column '{repeated[0]}' appears more than once in the header")
    if df.empty:
        raise SynthError(f"CSV file '{path}' has a header but no rows")
    return clean_frame(df, options)


def _strip(v: Any) -> Any:
    if isinstance(v, str):
        v = v.strip()
        return np.nan if v == "" else v
    return v


def clean_frame(df: pd.DataFrame, options: ReadOptions) -> pd.DataFrame:
    """``df`` with text values stripped and missing markers set missing, as ``options`` say.

    A text column that holds only numbers once that is done becomes a numerical one, as if the
    markers had never been there. With the default options ``df`` is returned as it is.
    """
    if not options.strip_whitespace and not options.na_values:
        return df
    markers = set(options.na_values)
    numbers = {float(m) for m in markers if _is_number(m)}
    out = []
    for i in range(df.shape[1]):
        s = df.iloc[:, i]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out.append(s.where(~s.isin(numbers)) if numbers else s)
            continue
        if not is_text(s):
            out.append(s)
            continue
        cleaned = s.map(_strip) if options.strip_whitespace else s
        if markers:
            cleaned = cleaned.where(~cleaned.map(lambda v: isinstance(v, str) and v.strip() in markers))
            if numbers:
                cleaned = cleaned.where(~cleaned.map(lambda v: not isinstance(v, str) and _equals_any(v, numbers)))
        if not cleaned.equals(s):
            cleaned = _as_numbers(cleaned, options.decimal)
        out.append(cleaned)
    return pd.concat(out, axis=1, ignore_index=True).set_axis(df.columns, axis=1)


def is_text(s: pd.Series) -> bool:
    """A column of Python objects or pandas strings (where text values live), not of numbers or dates."""
    return pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _equals_any(v: Any, numbers: set[float]) -> bool:
    try:
        return float(v) in numbers
    except (TypeError, ValueError):
        return False


def _as_numbers(s: pd.Series, decimal: str) -> pd.Series:
    """``s`` as numbers when every value present reads as one (decimal mark ``decimal``), else ``s``."""
    present = s.dropna()
    if present.empty or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in present):
        return s
    text = present.astype(str)
    if decimal != ".":
        text = text.str.replace(decimal, ".", regex=False)
    num = pd.to_numeric(text, errors="coerce")
    if num.isna().any():
        return s
    return pd.to_numeric(s.astype(object).where(s.isna(), text.reindex(s.index)), errors="coerce")
