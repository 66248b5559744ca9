"""Hostile inputs for the command line, shared by tests/test_fuzz.py and bench/dev/fuzz.py.

A case is a CSV (bytes), a metadata file (bytes) and the options of `synth fit` and
`synth sample`. The hypothesis strategy :func:`cases` starts from a well-formed trial table and
applies the damage a user's files and fingers produce; :func:`evaluate_cases` does the same for
`synth evaluate`'s synthetic CSV. :mod:`bench.dev.fuzz_runs` runs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd
from hypothesis import strategies as st

__all__ = ["Case", "EvaluateCase", "cases", "evaluate_cases", "TEXTS"]

TEXTS = ["", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-0", "0x1F", "true", "NULL", "N/A", "é",
         "患者", "🧪", "\u202eabc", "a,b", 'say "hi"', "line\nbreak", "\x00", "x" * 5000, "01/02/2020",
         "2020-13-45", "2020-01-01T10:00:00", "20200101"]
WEIRD_NAMES = ["", " ", "Unnamed: 0", "é", "a,b", "1", "患者", "x" * 300]



@dataclass
class Case:
    csv: bytes
    metadata: bytes
    fit_args: list[str] = field(default_factory=list)
    sample_args: list[str] = field(default_factory=lambda: ["-n", "5"])
    what: list[str] = field(default_factory=list)  # the damage applied, for the report


# ---------------------------------------------------------------- strategies

@st.composite
def _table(draw) -> tuple[pd.DataFrame, dict, dict]:
    """A well-formed table, its metadata document and the columns' roles."""
    n = draw(st.sampled_from([30, 2, 1, 0])) if draw(st.integers(0, 9)) == 9 else draw(st.integers(3, 40))
    sequences = draw(st.booleans()) and n > 0
    cols, spec = {}, {}
    rows = st.lists
    if sequences:
        regular = n
        patients = draw(st.integers(1, max(1, n))) if draw(st.integers(0, 9)) == 9 else draw(
            st.integers(min(2, n), max(2, n // 2)))
        cols["pid"] = [i % patients for i in range(n)]
        cols["day"] = [i // patients * 30 for i in range(n)]
        long_patient = draw(st.integers(500, 3000)) if draw(st.integers(0, 9)) == 9 else 0
        spec["pid"] = {"sdtype": "id"}
        spec["day"] = {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 0, "range_max": 1200}
    else:
        cols["pid"] = list(range(n))
        spec["pid"] = {"sdtype": "id"}
    arms = draw(st.lists(st.sampled_from(["a", "b", "placebo", "é", "1", "2"]), min_size=1 + (n > 1), max_size=3,
                         unique=True))
    cols["arm"] = draw(rows(st.sampled_from(arms), min_size=n, max_size=n))
    if sequences:  # static: one arm per patient
        cols["arm"] = [cols["arm"][p] for p in cols["pid"]]
    spec["arm"] = {"sdtype": "categorical", "range_values": arms}
    for i in range(draw(st.integers(1, 3)) if draw(st.integers(0, 9)) else 0):
        kind = draw(st.sampled_from(["numerical", "integer", "categorical", "boolean", "datetime"]))
        name = f"c{i}"
        if kind in ("numerical", "integer"):
            lo, hi = sorted(draw(st.tuples(st.integers(-1000, 1000), st.integers(-1000, 1000))))
            hi += 1
            values = rows(st.integers(lo, hi) if kind == "integer" else
                          st.floats(lo, hi, allow_nan=False), min_size=n, max_size=n)
            cols[name] = draw(values)
            spec[name] = {"sdtype": "numerical", "computer_representation": "Int64" if kind == "integer" else "Float"}
            spec[name].update(range_min=lo, range_max=hi)
        elif kind == "categorical":
            values = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True))
            cols[name] = draw(rows(st.sampled_from(values), min_size=n, max_size=n))
            spec[name] = {"sdtype": "categorical", "range_values": values}
        elif kind == "boolean":
            cols[name] = draw(rows(st.booleans(), min_size=n, max_size=n))
            spec[name] = {"sdtype": "boolean"}
        else:
            days = draw(rows(st.integers(0, 3000), min_size=n, max_size=n))
            cols[name] = [str((pd.Timestamp("2015-01-01") + pd.Timedelta(days=d)).date()) for d in days]
            spec[name] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2015-01-01",
                          "range_max": "2023-12-31"}
        if draw(st.booleans()):
            spec[name]["range_is_nullable"] = draw(st.booleans())
    table = {"columns": spec}
    if sequences:
        table.update(sequence_key="pid", sequence_index="day")
    doc = {"METADATA_SPEC_VERSION": "V1", "tables": {"trial": table}}
    if sequences:
        doc["synth_sequence"] = {"static_columns": ["arm"], "max_visits": -(-regular // patients)}
    df = pd.DataFrame(cols)
    if sequences and long_patient:  # patient 0 with thousands of visits, past the public max_visits
        df = pd.concat([df, df.iloc[[0] * long_patient].assign(day=[i % 1200 for i in range(long_patient)])],
                       ignore_index=True)
    return df, doc, {"label": "arm", "names": list(cols)}


def _set_cell(draw, df: pd.DataFrame, value) -> str:
    if df.empty:
        return "no cell to damage"
    col = draw(st.sampled_from(list(df.columns)))
    row = draw(st.integers(0, len(df) - 1))
    df[col] = df[col].astype(object)
    df.iloc[row, df.columns.get_loc(col)] = value
    return f"cell {col}[{row}] = {str(value)[:20]!r}"


def _damage_meta(draw, doc: dict) -> str:
    table = doc["tables"]["trial"] if isinstance(doc["tables"], dict) else doc["tables"][0]
    spec = table.setdefault("columns", {"pid": {"sdtype": "id"}}) if isinstance(table, dict) else None
    if not spec or not all(isinstance(v, dict) for v in spec.values()):
        return "metadata: already broken"
    name = draw(st.sampled_from(list(spec)))
    how = draw(st.sampled_from(["absent_column", "bogus_sdtype", "inverted_range", "text_range", "empty_values",
                                "no_columns", "absent_sequence_key", "patients", "nullable_text", "list_doc",
                                "private_ranges", "table_not_object"]))
    if how == "absent_column":
        spec["ghost"] = {"sdtype": "numerical"}
    elif how == "bogus_sdtype":
        spec[name]["sdtype"] = draw(st.sampled_from(["number", "", None, 3, "pii", "id"]))
    elif how == "inverted_range":
        spec[name].update(range_min=10, range_max=-10)
    elif how == "text_range":
        spec[name].update(range_min="low", range_max=[1])
    elif how == "empty_values":
        spec[name]["range_values"] = draw(st.sampled_from([[], None, "a", [None], [1, 1]]))
    elif how == "no_columns":
        table.pop("columns")
    elif how == "absent_sequence_key":
        table["sequence_key"] = draw(st.sampled_from(["nope", "arm", None, 5]))
    elif how == "patients":
        doc["synth_patients"] = draw(st.sampled_from([-1, 0, 1, 2.5, "many", 10**12, True]))
    elif how == "nullable_text":
        spec[name]["range_is_nullable"] = "maybe"
    elif how == "list_doc":
        doc["tables"] = [table]
    elif how == "private_ranges":
        for col in spec.values():
            if isinstance(col, dict):
                col["range_public"] = False
    else:
        doc["tables"] = {"trial": draw(st.sampled_from([[], "x", None, 1]))}
    return f"metadata: {how} ({name})"


def _to_bytes(draw, df: pd.DataFrame, what: list[str]) -> bytes:
    sep = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    text = df.to_csv(index=False, sep=sep, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    if sep != ",":
        what.append(f"separated by {sep!r}")
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    raw = text.encode(encoding, errors="replace")
    if encoding != "utf-8":
        what.append(f"encoded {encoding}")
    cut = draw(st.sampled_from(["none", "none", "none", "empty", "header", "half", "ragged"]))
    if cut == "empty":
        raw = b""
    elif cut == "header":
        raw = raw.split(b"\n", 1)[0] + b"\n"
    elif cut == "half":
        raw = raw[: len(raw) // 2]
    elif cut == "ragged":
        raw = raw + b"1,2,3,4,5,6,7,8,9\n"
    if cut != "none":
        what.append(f"file: {cut}")
    return raw


@st.composite
def cases(draw, damage: bool = True) -> Case:
    """A trial table with up to three kinds of damage, and the options a user might type."""
    df, doc, roles = draw(_table())
    what: list[str] = []
    for _ in range(draw(st.integers(0, 3)) if damage else 0):
        kind = draw(st.sampled_from(["cell", "cell", "cell", "header", "meta", "drop_column", "missing_values"]))
        if len(df.columns) == 0 and kind != "meta":
            continue
        if kind == "cell":
            what.append(_set_cell(draw, df, draw(st.one_of(st.sampled_from(TEXTS), st.floats(), st.integers()))))
        elif kind == "header":
            names = list(df.columns)
            i = draw(st.integers(0, len(names) - 1))
            names[i] = draw(st.sampled_from(WEIRD_NAMES + names))
            df.columns = names
            what.append(f"header {i} renamed {names[i][:20]!r}")
        elif kind == "meta":
            what.append(_damage_meta(draw, doc))
        elif kind == "drop_column":
            col = draw(st.sampled_from(list(df.columns)))
            df = df.drop(columns=col)
            what.append(f"column {col} dropped")
        else:
            col = draw(st.sampled_from(list(df.columns)))
            df[col] = None
            what.append(f"column {col} all missing")
    meta_bytes = json.dumps(doc).encode()
    if damage and draw(st.integers(0, 19)) == 19:
        meta_bytes = draw(st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe", meta_bytes[: len(meta_bytes) // 2]]))
        what.append("metadata file broken")
    csv = _to_bytes(draw, df, what) if damage and draw(st.booleans()) else df.to_csv(index=False).encode()
    fit_args = ["--label", draw(st.sampled_from([roles["label"]] * 4 + [None, "nope", "pid", "c0"]))]
    if fit_args[1] is None:
        fit_args = []
    hostile = damage and draw(st.booleans())  # options a user might mistype, else sensible ones
    options = {"--epsilon": ["1", "inf", "0.3", "5"] + ["0", "-1", "nan", "abc", "1e-300", "1e300"] * hostile,
               "--delta": ["1e-5"] + ["0", "1", "2", "x"] * hostile, "--epochs": ["1", "2"] + ["0", "-3"] * hostile,
               "--batch-size": ["5", "1"] + ["0", "100000"] * hostile, "--seed": ["0", "7"] + ["-1", "x"] * hostile}
    for opt, values in options.items():
        if draw(st.integers(0, 3)) == 3 or (opt == "--epsilon" and draw(st.booleans())):
            fit_args += [opt, draw(st.sampled_from(values))]
    rows = ["5", "1", "0"] + ["-5", "abc", "1e3", str(10**13)] * hostile
    sample_args = ["-n", draw(st.sampled_from(rows))]
    if draw(st.integers(0, 3)) == 3:
        conditions = ["arm=a", "arm=b"] + ["arm=zz", "nope=1", "arm", "=", "arm=é", "arm="] * hostile
        sample_args += ["--condition", draw(st.sampled_from(conditions))]
    return Case(csv, meta_bytes, fit_args, sample_args, what)


# ---------------------------------------------------------------- synth evaluate

@dataclass
class EvaluateCase:
    real: bytes
    synthetic: bytes
    metadata: bytes
    args: list[str]
    what: list[str]


@st.composite
def evaluate_cases(draw) -> EvaluateCase:
    """A real table (damage-free, so that its checks pass) and a synthetic CSV from another tool,
    damaged: missing or extra columns, other dtypes, few or no rows, another file format."""
    df, doc, roles = draw(_table())
    while len(df) < 12:  # evaluate needs 10 rows or patients of each table
        df = pd.concat([df, df], ignore_index=True)
        df["pid"] = range(len(df)) if not doc["tables"]["trial"].get("sequence_key") else df["pid"]
    syn, what = df.sample(frac=1.0, random_state=draw(st.integers(0, 9))).reset_index(drop=True), []
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["drop", "extra", "dtype", "rows", "cell"]))
        if kind == "drop" and len(syn.columns) > 1:
            col = draw(st.sampled_from(list(syn.columns)))
            syn = syn.drop(columns=col)
            what.append(f"synthetic lacks {col}")
        elif kind == "extra":
            syn["extra"] = 1
            what.append("synthetic has an extra column")
        elif kind == "dtype":
            col = draw(st.sampled_from(list(syn.columns)))
            syn[col] = draw(st.sampled_from(["x", 1.5, True, "2020-01-01", None]))
            what.append(f"synthetic {col} all one other value")
        elif kind == "rows":
            syn = syn.head(draw(st.sampled_from([0, 1, 5])))
            what.append(f"synthetic has {len(syn)} rows")
        else:
            what.append(_set_cell(draw, syn, draw(st.sampled_from(TEXTS))))
    raw = syn.to_csv(index=False).encode()
    if draw(st.integers(0, 9)) == 9:
        raw = draw(st.sampled_from([b"", raw.replace(b",", b";"), raw[: len(raw) // 2]]))
        what.append("synthetic file damaged")
    target = draw(st.sampled_from([roles["label"], roles["label"], None, "nope", "pid"]))
    args = ["--target", target] if target else []
    return EvaluateCase(df.to_csv(index=False).encode(), raw, json.dumps(doc).encode(), args, what)
