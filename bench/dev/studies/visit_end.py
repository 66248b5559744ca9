"""Item 67 (bench/RESULTS.md): rules that end synthetic visits at the patient's end of follow-up,
scored side by side on the same pbcseq fits (80/20 split by patient, label `status`, ε = 1).

    OMP_NUM_THREADS=1 python -m bench.dev.studies.visit_end [--first-seed 0] [--seeds 3]

Every rule is post-processing of the generator (no privacy cost):
- raw: the sample as drawn;
- trunc: visits after `futime` dropped; a patient's first visit is kept, moved to `futime` if later;
- raise: `futime` raised to the last visit's day where that is later;
- reject: a patient whose last visit falls after `futime` is drawn again with the same label, up
  to 20 rounds; whoever is left is truncated.
Prints one line per seed and rule, then the means and the paired differences from raw.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from bench.common import DATA, score_patients, split_by_patient
from synth import Metadata, Synthesizer
from synth.eval.sequences import patient_features, per_visit_quality, visit_count_distance, visit_time_quality
from synth.sample.draw import _draw_rows
from synth.schema.sequence import VISITS, gap_name, slot_name
END = "futime"
RULES = ("raw", "trunc", "raise", "reject")


def last_visit_day(enc, wide: pd.DataFrame) -> np.ndarray:
    lay, m = enc.layout, enc.layout.max_visits
    t0 = enc.domain_of(slot_name(lay.index, 0))
    gaps = np.column_stack([wide[slot_name(lay.index, 0)].to_numpy(float)] +
                           [wide[gap_name(k)].to_numpy(float) for k in range(1, m)])
    times = np.clip(np.cumsum(gaps, axis=1), t0.lo, t0.hi)
    return times[np.arange(len(wide)), wide[VISITS].astype(int).to_numpy() - 1]


def trunc(long: pd.DataFrame, meta: Metadata) -> pd.DataFrame:
    key, idx = meta.sequence_key, meta.sequence_index
    d = long.sort_values([key, idx], kind="stable").copy()
    first = ~d[key].duplicated()
    d.loc[first, idx] = np.minimum(d.loc[first, idx], d.loc[first, END])
    return d[first | (d[idx] <= d[END])].reset_index(drop=True)


def raise_end(long: pd.DataFrame, meta: Metadata) -> pd.DataFrame:
    d = long.copy()
    last = d.groupby(meta.sequence_key)[meta.sequence_index].transform("max")
    d[END] = np.maximum(d[END], last).astype(d[END].dtype)
    return d


def reject(synth: Synthesizer, n: int, seed: int, meta: Metadata, rounds: int = 20) -> tuple[pd.DataFrame, ...]:
    """The raw sample (drawn as Synthesizer.sample draws it) and the rejection rule's sample."""
    st = synth._state()
    gen, enc, dom = st["generator"], st["encoder"], st["domain"]
    rng = torch.Generator().manual_seed(int(seed))
    labels = torch.multinomial(torch.as_tensor(dom.label_proportions, dtype=torch.float64), n, replacement=True,
                               generator=rng)
    wide = enc.decode(*_draw_rows(gen, enc, labels, n, rng))
    raw = enc.to_long(wide, dom.label, labels.numpy(), 1, dom.all_columns, dom.pii_columns)
    for _ in range(rounds):
        bad = np.nonzero(last_visit_day(enc, wide) > wide[END].to_numpy(float))[0]
        if len(bad) == 0:
            break
        wide.iloc[bad] = enc.decode(*_draw_rows(gen, enc, labels[bad], len(bad), rng)).to_numpy()
    return raw, trunc(enc.to_long(wide, dom.label, labels.numpy(), 1, dom.all_columns, dom.pii_columns), meta)


def end_medians(df: pd.DataFrame, meta: Metadata) -> pd.Series:
    p = df.groupby(meta.sequence_key).agg(s=("status", "first"), f=(END, "first"))
    return p.groupby(p["s"].astype(str))["f"].median()


def score(train, test, syn, meta, seed) -> dict:
    f_train, f_syn, f_test = (patient_features(d, meta) for d in (train, syn, test))
    r = score_patients(f_train, f_syn, f_test, meta, "status", seed)
    real, fake = end_medians(train, meta), end_medians(syn, meta)
    return {"ratio": r["ratio"], "per_visit_quality": per_visit_quality(train, syn, meta)["per_visit_quality"],
            "visit_tvd": visit_count_distance(train, syn, meta.sequence_key),
            "visit_time_quality": visit_time_quality(train, syn, meta)["visit_time_quality"],
            "after_end": float((syn[meta.sequence_index] > syn[END]).mean()),
            "end_median_error": float(abs(fake["0"] - real["0"]) + abs(fake["2"] - real["2"]))}


def main() -> None:
    def rules(synth: Synthesizer, n: int, seed: int, meta: Metadata) -> tuple[pd.DataFrame, ...]:
        raw, rejected = reject(synth, n, seed, meta)
        pd.testing.assert_frame_equal(raw, synth.sample(n, seed=seed))
        return raw, trunc(raw, meta), raise_end(raw, meta), rejected

    compare_rules(__doc__, RULES, rules, "follow_up_end", "first_visit_at")  # raw: visits as drawn


def compare_rules(doc: str, names: tuple[str, ...], rules: Callable[..., tuple[pd.DataFrame, ...]],
                  *dropped: str) -> None:
    """The rule benches' shared loop: parse --first-seed/--seeds, fit pbcseq (metadata without the
    ``dropped`` keys) once per seed, score each sample ``rules(synth, n, seed, meta)`` returns
    (one per name, the first the baseline), print a line per seed and rule, then the paired table."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if args.seeds < 1 or args.first_seed < 0:
        parser.error(f"--seeds, --first-seed: expected at least 1 and at least 0, "
                     f"got {args.seeds} and {args.first_seed}")
    warnings.filterwarnings("ignore", category=UserWarning)
    df, meta = pbcseq_without(*dropped)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        train, test = split_by_patient(df, meta.sequence_key, seed)
        synth = Synthesizer(epsilon=1.0, label="status", seed=seed).fit(train, meta)
        for rule, syn in zip(names, rules(synth, train[meta.sequence_key].nunique(), seed, meta), strict=True):
            rows.append({"seed": seed, "rule": rule, **score(train, test, syn, meta, seed)})
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
                  flush=True)
    print_paired(rows, names)


def print_paired(rows: list[dict], rules: tuple[str, ...]) -> None:
    """Markdown table: each figure's mean over the seeds per rule, and its paired difference from
    the first rule."""
    res = pd.DataFrame(rows)
    figures = [c for c in res.columns if c not in ("seed", "rule")]
    base = res[res.rule == rules[0]].set_index("seed")[figures]
    print("\n| rule | " + " | ".join(figures) + " |\n|---|" + "---|" * len(figures))
    for rule in rules:
        part = res[res.rule == rule].set_index("seed")[figures]
        diff = part - base
        print(f"| {rule} | " + " | ".join(f"{part[c].mean():.3f} ({diff[c].mean():+.3f})" for c in figures) + " |")


def pbcseq_without(*keys: str) -> tuple[pd.DataFrame, Metadata]:
    """The bundled pbcseq and its metadata with the named ``synth_sequence`` keys taken out (the
    metadata as it stood when an item ran, before the rules it shipped)."""
    meta = Metadata.load(DATA / "pbcseq.json")
    meta.extra["synth_sequence"] = {k: v for k, v in meta.extra["synth_sequence"].items() if k not in keys}
    return pd.read_csv(DATA / "pbcseq.csv"), meta


if __name__ == "__main__":
    main()
