"""Issue 38 (bench/RESULTS.md, "Longitudinal trials on a fixed schedule"): small trials whose
visits follow a fixed schedule, synth against MST and AIM on the same splits.

    OMP_NUM_THREADS=1 python -m bench.schedule [--fixtures respiratory,epilepsy] [--seeds 6]
        [--methods synth,synth-pooled,synth-wide,mst,aim]      # mst/aim: the SmartNoise venv (bench/peers.py)

``--fixtures`` names bench/fixtures/ tables (respiratory, epilepsy, btheb, ohio) or scheduled trials
this project never tuned on (bench/scheduled.py: schizophrenia2, bacteria, ahd, arthritis).

Methods, each fitted on the same 80% of patients (split by patient) at the same ε and δ:
- synth: the sequence path as shipped (long visits; the stated schedule's visits as slots, issue #48);
- synth-unstated: the same long visits and metadata without `schedule` (issue #48's statement / no
  statement comparison: stating the schedule must never lower quality);
- synth-no-slot-pairs: synth without the slot-pair tables (synth.release.slot_pairs.ENABLED off: the lever's
  measurement);
- synth-monotone: synth with the dropout patterns kept at a lower threshold (20% chance that some
  empty one survives, against 1% for any pattern; synth.release.attendance.MONOTONE_FALSE_KEEP);
- synth-drift-every-cell: the slot-drift term compares a nullable categorical column's slots on
  every cell, its missing one included (synth.models.slot_drift.PRESENT_ONLY off), pulling each
  slot's missing share to the pooled one (the code before issue 48's lead 3);
- synth-complete: with `"attendance": "complete"` added to the metadata (only on fixtures whose
  protocol has every patient at every visit: respiratory, epilepsy, ohio);
- synth-pooled: the sequence path with ``visit_tables: pooled`` (one table per column over all visits);
- synth-wide: the pivot a user could do by hand, fitted through the tabular path: each temporal
  column once per scheduled visit (`status@2`, missing where the visit was missed), sampled, and
  turned back into visits (one per scheduled time with a value, at least the first);
- mst, aim: SmartNoise Synth on the same wide pivot (public bounds in equal-width bins, as in
  bench/peers.py), turned back into visits the same way.

The fixtures' metadata lists the schedule as `synth_sequence.schedule` (synth puts sampled visits on
it; the pivot and the scores read it here). For each fixture and seed it reports:
- quality: sdmetrics' overall quality of the wide pivot, synthetic against the training patients;
- per-visit quality (synth.eval.sequences) on the long data;
- the AUROC ratio, TSTR / TRTR, predicting the label from per-patient features on the real 20%;
- visits off the schedule: the share of sampled visits at a time the schedule does not list
  (before scoring, each visit is moved to the nearest scheduled time, the first kept where two meet);
- change from baseline: per arm, the Wasserstein distance between the real and synthetic
  distributions of (outcome at the last scheduled visit − at the first), averaged over arms and
  divided by the real change's standard deviation (0 is perfect).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from bench.common import print_table, score_patients, split_by_patient
from synth import Metadata, Synthesizer, SynthError
from synth.privacy.domain import default_delta
from synth.eval.fidelity import quality
from synth.eval.sequences import patient_features, per_visit_quality
from synth.schema.sequence import SequenceLayout, sequence_layout


def visit_column(column: str, time: float) -> str:
    """Wide name of ``column`` at the scheduled visit ``time``: ``bdi@4``."""
    return f"{column}@{time:g}"


class Schedule:
    """The public visit times and the long ↔ wide maps for one metadata document."""

    def __init__(self, meta: Metadata, layout: SequenceLayout, times: list[float]):
        self.meta, self.layout, self.times = meta, layout, times

    def wide_metadata(self) -> Metadata:
        """One row per patient: the id, the static columns, each temporal column per visit
        (nullable: a patient may miss a visit). Inequalities among static columns are kept."""
        lay, columns = self.layout, {}
        for name, spec in self.meta.columns.items():
            if name == lay.index:
                continue
            if name in lay.temporal:
                for t in self.times:
                    columns[visit_column(name, t)] = {**spec, "range_is_nullable": True}
            else:
                columns[name] = dict(spec)
        extra = {k: v for k, v in self.meta.extra.items() if k not in ("synth_sequence", "synth_inequalities")}
        kept = [p for p in self.meta.extra.get("synth_inequalities", [])
                if isinstance(p, dict) and p.get("low") in lay.static and p.get("high") in lay.static]
        if kept:
            extra["synth_inequalities"] = kept
        return Metadata(columns, self.meta.table_name, None, None, None, extra)

    def to_wide(self, df: pd.DataFrame, source: str) -> pd.DataFrame:
        """Long visits (as read from the CSV) → one row per patient; one-line errors for a visit
        off the schedule, two visits at one time, or a static column that varies."""
        lay = self.layout
        for col in (lay.key, lay.index):
            if col not in df.columns:
                raise SynthError(f"column '{col}' from the metadata is not in {source}")
        keys = df[lay.key]
        if keys.isna().any():
            raise SynthError(f"{source}: sequence_key '{lay.key}' is missing in {int(keys.isna().sum())} row(s)")
        times = pd.to_numeric(df[lay.index], errors="coerce")
        off = ~times.isin(self.times)
        if off.any():
            row = int(off.to_numpy().argmax())
            value = df[lay.index].iloc[row]
            shown = repr(value) if isinstance(value, str) else str(value)
            raise SynthError(f"{source}: {int(off.sum())} visit(s) of '{lay.index}' are not at a time in "
                             f"synth_sequence.schedule ({', '.join(f'{t:g}' for t in self.times)}): row {row + 1} "
                             f"holds {shown}")
        patient = pd.Series(pd.factorize(keys.astype(str))[0], index=df.index)
        twice = pd.DataFrame({"p": patient, "t": times}).duplicated()
        if twice.any():
            raise SynthError(f"{source}: {int(twice.sum())} visit(s) repeat a patient's scheduled time in "
                             f"'{lay.index}'; a fixed schedule has one visit per patient and time")
        for col in lay.static:
            varying = df[col].groupby(patient).nunique(dropna=False) > 1
            if varying.any():
                raise SynthError(f"{source}: static column '{col}' varies within {int(varying.sum())} patient(s); "
                                 "list it as temporal (remove it from synth_sequence.static_columns)")
        head = df.groupby(patient).head(1)
        wide = head[[c for c in df.columns if c not in lay.temporal and c != lay.index]].set_index(patient[head.index])
        for t in self.times:
            at = df[times == t].set_index(patient[times == t])[lay.temporal]
            wide = wide.join(at.rename(columns={c: visit_column(c, t) for c in lay.temporal}))
        return wide.reset_index(drop=True)

    def to_long(self, wide: pd.DataFrame) -> pd.DataFrame:
        """Synthetic wide rows → their visits, in the metadata's column order, sorted by patient
        and time. A visit is written where the patient has a temporal value at that time; a
        patient with none keeps the first scheduled visit. ``follow_up_end`` drops later visits."""
        lay = self.layout
        statics = [c for c in wide.columns if "@" not in c or c in self.meta.columns]
        parts, kept_any = [], pd.Series(False, index=wide.index)
        for i, t in enumerate(self.times):
            cols = {visit_column(c, t): c for c in lay.temporal}
            at = wide[list(cols)].rename(columns=cols)
            keep = at.notna().any(axis=1) if lay.temporal else pd.Series(True, index=wide.index)
            if lay.end is not None:
                keep &= ~(pd.to_numeric(wide[lay.end], errors="coerce") < t)
            parts.append((i, t, keep, at))
            kept_any |= keep
        rows = []
        for i, t, keep, at in parts:
            if i == 0:
                keep = keep | ~kept_any
            visit = pd.concat([wide.loc[keep, statics], at.loc[keep]], axis=1)
            visit[lay.index] = int(t) if float(t).is_integer() else t
            visit["__order"] = i
            rows.append(visit)
        long = pd.concat(rows).rename_axis("__row").sort_values(["__row", "__order"], kind="stable")
        return long[[c for c in self.meta.columns if c in long.columns]].reset_index(drop=True)


def read_schedule(meta: Metadata, label: str | None) -> Schedule | None:
    """The fixed schedule the metadata states (synth's own reading), or None."""
    layout = sequence_layout(meta, label) if meta.sequence_key else None
    return None if layout is None or layout.schedule is None else Schedule(meta, layout, layout.schedule)


FIXTURES = Path(__file__).resolve().parent / "fixtures"
SETUP = {"respiratory": ("treatment", "status"), "epilepsy": ("treatment", "seizures"),
         "btheb": ("treatment", "bdi"), "ohio": ("smoke", "wheeze")}


def load_trial(name: str) -> tuple[pd.DataFrame, Path, str, str]:
    """A fixture of bench/fixtures/, else a scheduled trial never tuned on (bench/scheduled.py):
    its visits, its metadata's path, its label and its outcome."""
    if name in SETUP:
        return pd.read_csv(FIXTURES / f"{name}.csv"), FIXTURES / f"{name}.json", *SETUP[name]
    from bench.scheduled import SCHEDULED, load_scheduled

    if name not in SCHEDULED:
        print(f"--fixtures: '{name}' is none of {', '.join([*SETUP, *SCHEDULED])}", file=sys.stderr)
        raise SystemExit(2)
    return load_scheduled(name)


def change_from_baseline(df: pd.DataFrame, meta: Metadata, outcome: str, label: str) -> dict[str, np.ndarray]:
    """Per arm: each patient's outcome at the last scheduled visit minus at the first (both seen)."""
    schedule = read_schedule(meta, label)
    first, last = schedule.times[0], schedule.times[-1]
    key, index = meta.sequence_key, meta.sequence_index
    values = df[outcome]
    if meta.sdtype(outcome) != "numerical":  # a two-valued outcome: its first listed value is 1
        values = (values.astype(str) == str(meta.columns[outcome]["range_values"][0])).astype(float)
    frame = pd.DataFrame({"key": df[key], "t": pd.to_numeric(df[index]), "y": values, "arm": df[label]})
    at = frame.pivot_table(index=["key", "arm"], columns="t", values="y", aggfunc="first")
    if first not in at or last not in at:
        return {}
    change = (at[last] - at[first]).dropna().reset_index()
    return {str(a): g[0].to_numpy() for a, g in change.groupby("arm")}


def change_distance(real: dict, syn: dict) -> float:
    spread = np.std(np.concatenate(list(real.values()))) or 1.0
    return float(np.mean([wasserstein_distance(real[a], syn[a]) / spread if a in syn and len(syn[a]) else 1.0
                          for a in real]))


def on_schedule(df: pd.DataFrame, meta: Metadata, times: list[float]) -> pd.DataFrame:
    """Each visit moved to the nearest scheduled time, the first kept where two meet (the sequence
    path's visits are at generated times): the form a fixed-schedule analysis would read."""
    t = pd.to_numeric(df[meta.sequence_index]).to_numpy()
    nearest = np.asarray(times)[np.abs(t[:, None] - np.asarray(times)[None, :]).argmin(axis=1)]
    out = df.assign(**{meta.sequence_index: nearest})
    return out.drop_duplicates([meta.sequence_key, meta.sequence_index]).reset_index(drop=True)


def fit_sample(method: str, train: pd.DataFrame, doc: dict, schedule: Schedule, label: str, epsilon: float,
               seed: int, bins: int) -> tuple[pd.DataFrame, float]:
    """One method's synthetic visits (long format) for the training patients, and its ε spent."""
    n = train[schedule.layout.key].nunique()
    delta = default_delta(n)
    if method in ("synth", "synth-pooled", "synth-unstated", "synth-complete", "synth-no-slot-pairs", "synth-monotone",
                  "synth-drift-every-cell"):
        doc = json.loads(json.dumps(doc))
        if method == "synth-pooled":
            doc["synth_sequence"]["visit_tables"] = "pooled"
        if method == "synth-unstated":
            del doc["synth_sequence"]["schedule"]
        if method == "synth-complete":
            doc["synth_sequence"]["attendance"] = "complete"
        import synth.release.slot_pairs as slot_pairs

        import synth.release.attendance as attendance

        slot_pairs.ENABLED = method != "synth-no-slot-pairs"
        attendance.MONOTONE_FALSE_KEEP = 0.2 if method == "synth-monotone" else None
        import synth.models.slot_drift as drift

        drift.PRESENT_ONLY = method != "synth-drift-every-cell"
        synth = Synthesizer(epsilon=epsilon, delta=delta, label=label, seed=seed).fit(train, doc)
        return synth.sample(n, seed=seed), synth.ledger.epsilon()
    wide = schedule.to_wide(train, "train")
    if method == "synth-wide":  # the pivot, given to the tabular path as a user would give wide data
        synth = Synthesizer(epsilon=epsilon, delta=delta, label=label, seed=seed).fit(wide, schedule.wide_metadata())
        return schedule.to_long(synth.sample(n, seed=seed)), synth.ledger.epsilon()
    from bench.peers import fit_sample_peer  # SmartNoise Synth: its own venv

    syn = fit_sample_peer(method, wide, schedule.wide_metadata(), epsilon, delta, bins, seed)
    syn.insert(0, schedule.layout.key, np.arange(len(syn)))
    return schedule.to_long(syn), epsilon


def run_one(df: pd.DataFrame, meta_path: Path, label: str, outcome: str, method: str, epsilon: float,
            seed: int, bins: int) -> dict:
    doc = json.loads(meta_path.read_text())
    meta = Metadata.load(doc)
    train, test = split_by_patient(df, meta.sequence_key, seed)
    schedule = read_schedule(meta, label)
    started = time.perf_counter()
    syn, spent = fit_sample(method, train, doc, schedule, label, epsilon, seed, bins)
    fit_s = time.perf_counter() - started
    wide_meta = schedule.wide_metadata()
    times = pd.to_numeric(syn[meta.sequence_index])
    off = float((~times.isin(schedule.times)).mean())  # visits at an unscheduled time, as sampled
    syn = on_schedule(syn, meta, schedule.times)
    wide_train, wide_syn = schedule.to_wide(train, "train"), schedule.to_wide(syn, "synthetic")
    f_train, f_syn, f_test = (patient_features(d, meta) for d in (train, syn, test))
    return {"method": method, "seed": seed, "fit_s": fit_s, "spent": spent, "off_schedule": off,
            **quality(wide_train, wide_syn, wide_meta),
            "per_visit_quality": per_visit_quality(train, syn, meta)["per_visit_quality"],
            **score_patients(f_train, f_syn, f_test, meta, label, seed),
            "change_gap": change_distance(change_from_baseline(train, meta, outcome, label),
                                          change_from_baseline(syn, meta, outcome, label))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", default="respiratory,epilepsy,btheb")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (more seeds in parts)")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--methods", default="synth,synth-pooled,mst,aim")
    parser.add_argument("--bins", type=int, default=16, help="peers' bins per numerical column")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for name in args.fixtures.split(","):
        df, meta_path, label, outcome = load_trial(name)
        rows = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for method in args.methods.split(","):
                row = run_one(df, meta_path, label, outcome, method, args.epsilon, seed, args.bins)
                print(f"  {name} {method} seed={seed}: quality {row['quality']:.3f} per-visit "
                      f"{row['per_visit_quality']:.3f} ratio {row['ratio']:.3f} change gap "
                      f"{row['change_gap']:.3f} ({row['fit_s']:.0f} s)", flush=True)
                rows.append(row)
        res = pd.DataFrame(rows)
        print(f"\n{name}, label {label}, outcome {outcome}, ε = {args.epsilon}, 80/20 split by patient, "
              f"seeds {args.first_seed}-{args.first_seed + args.seeds - 1} (mean ± sd)\n")
        print_table(res, [("quality (wide pivot)", "quality"), ("column shapes", "column_shapes"),
                          ("pair trends", "column_pair_trends"), ("per-visit quality", "per_visit_quality"),
                          ("AUROC TSTR", "auroc_tstr"), ("AUROC TRTR", "auroc_trtr"), ("ratio", "ratio"),
                          ("change-from-baseline gap", "change_gap"), ("visits off the schedule", "off_schedule")],
                    by="method")
        print()


if __name__ == "__main__":
    main()
