"""Peers side by side: synth against MST and AIM (SmartNoise Synth) on the same splits, ε = 1.

    python -m bench.peers [--dataset actg175 --label cens] [--seeds 3] [--first-seed 0] [--methods synth,mst,aim]
    python -m bench.peers --dataset pbcseq --label status --methods synth,mst     # visits
    python -m bench.peers --detection ...        # also the detection AUROC and numerical shapes

Each method is fitted on the same 80% of patients (bench/common.py's split) with the same
public metadata, samples as many rows as the training split and is scored by the same
evaluation (sdmetrics QualityReport against the training split; mean AUROC of LR/RF/GB on the
real 20%, trained on synthetic over trained on real). One table, one row per method.
No method's rows repeat run after run: synth's DP noise is secret (OS entropy) like OpenDP's.
Where the metadata states ``synth_inequalities``, synth's samples keep them (synth's sampling
rule), and each peer sample is scored twice: as drawn, and with the same rule applied to it
(``mst+ineq``, ``aim+ineq``; post-processing of public metadata, open to any peer user).

The peers see only public metadata besides the training rows: numerical columns are cut into
``--bins`` equal-width bins over the metadata's public bounds (no privacy spent on bounds),
categories come from the metadata, and N is public for the peers (MST and AIM use it as the
known total; synth releases it under DP unless the metadata states synth_patients). δ is
synth's default for the training split, for every method.

Long-format visit data (``--dataset pbcseq --label status``): MST and AIM need one row per
patient, so they are fitted on the per-patient features the downstream models use
(bench/sequences.py: statics, visit count, first/last/mean/slope of each lab), one row per
patient, and their synthetic features are scored directly; synth is fitted on the visits and
its samples go through the same features. The peers' public bounds come from the long table's
metadata alone (:func:`wide_metadata`). This favours the peers: they model exactly the
evaluated features. Only the downstream figures are reported (no visits to score).

SmartNoise Synth is a benchmark-only tool, not a dependency of synth. Its package pins an old
Opacus, so install it without its dependencies, next to synth's environment:

    pip install --no-deps smartnoise-synth==1.0.8 smartnoise-sql==1.0.10
    pip install "mbi>=1.1,<2" disjoint-set pyyaml antlr4-python3-runtime==4.9.3 \
        "opendp>=0.14.1,<0.15" graphviz sqlalchemy faker
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from bench import common
from bench.common import (DETECTION_COLUMNS, TABLE_COLUMNS, load_table, print_per_model, print_table, score,
                          score_patients, split_by_patient)
from synth import Metadata, Synthesizer
from synth.privacy.domain import ColumnDomain
from synth.eval.sequences import patient_features
from synth.encode.inequalities import ceilings
from synth.sample.rules import apply_inequalities
from synth.schema.inequalities import read_inequalities
from synth.privacy.domain import default_delta

PEERS = ("mst", "aim")
SLOPE_DAYS = 365  # a lab's slope per day is bounded by its whole public range over this many days
PATIENT_COLUMNS = [("AUROC TSTR", "auroc_tstr"), ("AUROC TRTR", "auroc_trtr"), ("ratio", "ratio")]


def wide_metadata(meta: Metadata, features: pd.DataFrame) -> Metadata:
    """Public metadata for ``patient_features``' columns, derived from the long table's public
    metadata alone: statics keep theirs; a lab's first/last/mean keep its bounds; its slope lies
    within ± its range over SLOPE_DAYS days (slopes beyond are clamped, a per-patient step); the
    visit count runs from 1 to the public max_visits; a categorical lab's first/last keep its
    values. Nothing is read from the data but the column names."""
    max_visits = (meta.extra.get("synth_sequence") or {}).get("max_visits")
    if max_visits is None:
        raise SystemExit("bench/peers.py: the sequence metadata has no public max_visits")
    columns: dict[str, dict] = {}
    for c in features.columns:
        if c in meta.columns:
            columns[c] = dict(meta.columns[c])
            continue
        if c == "n_visits":
            columns[c] = {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 1,
                          "range_max": int(max_visits), "range_is_nullable": False}
            continue
        base, part = c.rsplit("_", 1)
        spec = dict(meta.columns[base])
        spec.pop("synth_scale", None)
        if part == "slope":
            lo, hi = meta.public_bounds(base)
            spec.update(computer_representation="Float", range_min=-(hi - lo) / SLOPE_DAYS,
                        range_max=(hi - lo) / SLOPE_DAYS, range_is_nullable=True)  # NaN below 2 values
        elif part == "mean":
            spec["computer_representation"] = "Float"
        columns[c] = spec
    return Metadata(columns=columns, table_name="patients")


def peer_transformer(meta: Metadata, columns: list[str], bins: int):
    """SmartNoise transformers fitted on public metadata only, never on the data: numerical
    columns in equal-width bins over their public bounds, categorical ones over their listed
    values (a LabelTransformer fitted on the data would discover its categories outside any
    privacy accounting)."""
    from snsynth.transform import BinTransformer, LabelTransformer, TableTransformer

    parts, public = [], {}
    for c in columns:
        nullable = bool(meta.public_nullable(c))
        if meta.sdtype(c) == "numerical":
            lo, hi = meta.public_bounds(c)
            parts.append(BinTransformer(bins=bins, lower=lo, upper=hi, nullable=nullable))
            public[c] = [lo, hi]
        else:
            values = meta.public_values(c)
            if values is None:
                raise SystemExit(f"bench/peers.py: column '{c}' has no public category list in the metadata")
            parts.append(LabelTransformer(nullable=nullable))
            public[c] = list(values)
    rows = max(len(v) for v in public.values())
    frame = pd.DataFrame({c: [v[i % len(v)] for i in range(rows)] for c, v in public.items()})
    transformer = TableTransformer(parts)
    transformer.fit(frame[columns])
    return transformer


def fit_sample_peer(method: str, train: pd.DataFrame, meta: Metadata, epsilon: float, delta: float,
                    bins: int, seed: int) -> pd.DataFrame:
    """Fit MST or AIM on the training rows (one per patient; public metadata only) and sample
    as many rows."""
    from snsynth.aim import AIMSynthesizer
    from snsynth.mst import MSTSynthesizer

    # Selection and sampling draw from numpy's global stream; the Gaussian noise comes from
    # OpenDP's secure sampler, which cannot be seeded, so a peer's rows differ between runs.
    np.random.seed(seed)
    columns = [c for c in meta.columns if meta.sdtype(c) not in ("id", "pii")]
    data = train[columns].copy()
    for c in columns:  # missing categories as None, the transformers' null
        if meta.sdtype(c) != "numerical":
            data[c] = data[c].astype(object).where(data[c].notna(), None)
    model = (MSTSynthesizer if method == "mst" else AIMSynthesizer)(epsilon=epsilon, delta=delta)
    model.fit(data, transformer=peer_transformer(meta, columns, bins), preprocessor_eps=0.0)
    syn = pd.DataFrame(model.sample(len(train)), columns=columns)
    for c in columns:
        spec = meta.columns[c]
        if meta.sdtype(c) == "numerical" and spec.get("computer_representation", "").startswith("Int"):
            syn[c] = pd.to_numeric(syn[c]).round().astype("Int64")
    if meta.primary_key:
        syn.insert(0, meta.primary_key, np.arange(len(syn)))
    return syn


def run_one(method: str, df: pd.DataFrame, meta_path: Path, label: str, epsilon: float, seed: int,
            bins: int) -> dict:
    meta = Metadata.load(meta_path)
    if meta.sequence_key:
        return run_one_sequences(method, df, meta, label, epsilon, seed, bins)
    train, test = split_by_patient(df, meta.primary_key, seed)
    delta = default_delta(len(train))
    started = time.perf_counter()
    if method == "synth":
        model = Synthesizer(epsilon=epsilon, delta=delta, label=label, seed=seed).fit(train, meta_path)
        syn, spent = model.sample(len(train), seed=seed), model.ledger.epsilon()
    else:
        syn, spent = fit_sample_peer(method, train, meta, epsilon, delta, bins, seed), epsilon
    fit_s = time.perf_counter() - started
    rows = [{"method": method, "seed": seed, "spent": spent, "broken": broken_share(syn, meta),
             **score(train, syn, test, meta_path, label, seed), "fit_s": fit_s}]
    if method != "synth" and read_inequalities(meta):  # synth's samples keep them already
        kept = public_inequality_rule(meta)(syn)
        rows.append({**rows[0], "method": f"{method}+ineq", "broken": broken_share(kept, meta),
                     **score(train, kept, test, meta_path, label, seed)})
    return rows


def public_inequality_rule(meta: Metadata):
    """synth's sampling rule for the metadata's ``synth_inequalities`` (synth.schema.inequalities), on
    a peer's sample: the domains are the metadata's public bounds, as the peers' transformers
    use. Post-processing of public metadata, open to any user of a peer."""
    pairs = read_inequalities(meta)
    cols = {}
    for c in {c for p in pairs for c in (p.low, p.high)}:
        rep = str(meta.columns[c].get("computer_representation", "Float")).lower()
        lo, hi = meta.public_bounds(c)
        nullable = meta.public_nullable(c) is not False  # unstated: nullable, as build_domain reads it
        cols[c] = ColumnDomain(c, "numerical", "numerical", nullable, "public", lo=lo, hi=hi,
                               integer=rep.startswith(("int", "uint")))  # build_domain's integer rule
    ceiling = ceilings(pairs, cols)
    return lambda frame: apply_inequalities(frame, pairs, ceiling, cols)


def broken_share(syn: pd.DataFrame, meta: Metadata) -> float:
    """Share of rows in which some stated pair is broken (missing values break none)."""
    broken = np.zeros(len(syn), bool)
    for p in read_inequalities(meta):
        broken |= (pd.to_numeric(syn[p.low]) > pd.to_numeric(syn[p.high])).to_numpy(bool, na_value=False)
    return float(broken.mean()) if len(syn) else 0.0


def run_one_sequences(method: str, df: pd.DataFrame, meta: Metadata, label: str, epsilon: float, seed: int,
                      bins: int) -> dict:
    """Visits: synth fits the visits; a peer fits the per-patient features (its privacy unit is
    still one patient: one row each). Both are scored on the same features."""
    train, test = split_by_patient(df, meta.sequence_key, seed)
    n = train[meta.sequence_key].nunique()
    delta = default_delta(n)
    f_train, f_test = patient_features(train, meta), patient_features(test, meta)
    started = time.perf_counter()
    if method == "synth":
        model = Synthesizer(epsilon=epsilon, delta=delta, label=label, seed=seed).fit(train, meta)
        f_syn, spent = patient_features(model.sample(n, seed=seed), meta), model.ledger.epsilon()
    else:
        f_syn = fit_sample_peer(method, f_train, wide_metadata(meta, f_train), epsilon, delta, bins, seed)
        spent = epsilon
    fit_s = time.perf_counter() - started
    return [{"method": method, "seed": seed, "spent": spent,
             **score_patients(f_train, f_syn[f_train.columns], f_test, meta, label, seed), "fit_s": fit_s}]


def print_rule_effect(res: pd.DataFrame) -> None:
    """Each peer's sample with the inequality rule minus the same sample without it (paired by
    seed: the peers are unseeded, so only the same sample isolates the rule)."""
    for method in PEERS:
        raw, kept = res[res["method"] == method], res[res["method"] == f"{method}+ineq"]
        if raw.empty or kept.empty:
            continue
        print(f"\n{method}: the inequality rule on its own samples, paired over {len(raw)} seeds (se):")
        for header, col in (("quality", "quality"), ("pair trends", "column_pair_trends"), ("ratio", "ratio")):
            d = kept[col].to_numpy() - raw[col].to_numpy()
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            print(f"  {header} {d.mean():+.4f} ({se:.4f}), up on {int((d > 0).sum())} of {len(d)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="actg175")
    parser.add_argument("--label", default="cens")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (more seeds in parts)")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--methods", default="synth,mst,aim")
    parser.add_argument("--bins", type=int, default=16, help="peers' bins per numerical column")
    parser.add_argument("--detection", action="store_true",
                        help="also report detection AUROC and the numerical columns' shape scores (one-row tables)")
    args = parser.parse_args()
    common.DETECTION = args.detection  # read by score
    methods = args.methods.split(",")
    unknown = sorted(set(methods) - {"synth", *PEERS})
    if unknown:
        parser.error(f"--methods: unknown {', '.join(unknown)} (expected synth, mst, aim)")
    if set(methods) & set(PEERS):
        try:
            import snsynth  # noqa: F401
        except ImportError:
            parser.error("--methods names MST/AIM but smartnoise-synth is not installed (see this script's docstring)")
    warnings.filterwarnings("ignore", category=UserWarning)
    df, meta_path = load_table(args.dataset)
    if args.label not in df.columns:
        parser.error(f"--label: '{args.label}' is not a column of {args.dataset} (pbcseq's label is status)")
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for method in methods:
            for row in run_one(method, df, meta_path, args.label, args.epsilon, seed, args.bins):
                figures = ("" if "quality" not in row else
                           f"quality {row['quality']:.3f} pairs {row['column_pair_trends']:.3f} ")
                broken = f"rows breaking a pair {row['broken']:.1%} " if "broken" in row else ""
                print(f"  {row['method']} seed={seed}: {figures}{broken}ratio {row['ratio']:.3f} "
                      f"({row['fit_s']:.0f} s)", flush=True)
                rows.append(row)
    res = pd.DataFrame(rows)
    print(f"\n{args.dataset}, label {args.label}, ε = {args.epsilon}, 80/20 split by patient, "
          f"{args.seeds} seeds (mean ± sd); peers' numerical columns in {args.bins} bins\n")
    detection = DETECTION_COLUMNS if args.detection else []
    print_table(res, TABLE_COLUMNS + detection + [("rows breaking a pair", "broken")] if "quality" in res
                else PATIENT_COLUMNS, by="method")
    print_rule_effect(res)
    if "per_model" in res:
        print_per_model(res, by="method")
    if "per_class" in res:
        print("\nper class (one-vs-rest AUROC, TSTR, mean over LR/RF/GB and the seeds):")
        classes = list(res["per_class"].iloc[0])
        print("| method | " + " | ".join(classes) + " |\n|---|" + "---|" * len(classes))
        for method, part in res.groupby("method", sort=False):
            cells = [np.mean([p[c]["tstr"] for p in part["per_class"]]) for c in classes]
            print(f"| {method} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
