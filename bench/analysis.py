"""Analysis fidelity: does the trial's own answer (the arm's effect) survive synthesis?

    OMP_NUM_THREADS=1 python -m bench.analysis [--datasets fixtures|unseen|actg175,gbsg2,...]
                                              [--seeds 6] [--methods synth,synth-declared,mst,aim]
                                              [--set OPTION=VALUE] [--epsilon 1]
    # MST/AIM need SmartNoise in the interpreter (bench/peers.py's docstring): run with that venv

Each trial's declared analysis (below; from the trial's design, not read off the data) is
fitted on the real 80% training split and on a synthetic table of the same size (sampled with
the seed): the arm's effect on each outcome with its 95% CI (logistic log-OR for a binary
outcome, OLS for a numeric one, Cox log-HR for a time-to-event pair;
:func:`synth.eval.analysis.analysis_fidelity`). Methods:

- ``synth``: the product without a declaration, with the trial's usual label;
- ``synth-declared``: the same metadata plus ``synth_analysis`` (no label given: the arm is the
  AC-GAN's class; the arm × outcome tables get ``ANALYSIS_SHARE`` of ε);
- ``synth-declared-label``: the declaration with the trial's usual label kept (what the arm as
  the class adds, apart from the tables);
- ``synth-declared-split``: as ``synth-declared``, with each time-to-event pair's table split in
  two (arm × event, arm × time) instead of arm × event × time;
- ``mst``, ``aim``: SmartNoise's, on the same public metadata and splits (bench/peers.py).

Per trial and method, over seeds and effects: the mean CI overlap (Karr et al. 2006), where the
real effect is significant at 5% how often the synthetic one keeps its sign, where it is not
how often the synthetic one is significant, and the significance agreement; for synth also
quality and the AUROC ratio (bench/utility.py's score), to see what the declaration costs.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from bench.common import parse_options, score, split_by_patient
from bench.trials import UNSEEN, load_trial
from synth import Metadata, Synthesizer
from synth.eval.analysis import analysis_fidelity
from synth.privacy import analysis_tables
from synth.privacy.domain import default_delta

# The trials' declared analyses (their published primary comparisons) and the label their
# other benchmarks use.
TRIALS = {
    "actg175": ({"arm": "treat", "outcomes": ["cd420", "cens"], "time_to_event": [{"time": "days", "event": "cens"}]},
                "cens"),
    "colon": ({"arm": "rx", "outcomes": ["status"], "time_to_event": [{"time": "time", "event": "status"}]}, "status"),
    "gbsg2": ({"arm": "horTh", "outcomes": ["cens"], "time_to_event": [{"time": "time", "event": "cens"}]}, "cens"),
    "myeloid": ({"arm": "trt", "outcomes": ["death"], "time_to_event": [{"time": "futime", "event": "death"}]},
                "death"),
    "rotterdam": ({"arm": "hormon", "outcomes": ["recur"], "time_to_event": [{"time": "rtime", "event": "recur"}]},
                  "death"),
}
FIXTURES = list(TRIALS)
# Trials never tuned on (bench/trials.py): the declared analysis is in their metadata; their
# usual label (for ``synth`` and the AUROC ratio) is the first binary outcome, else the arm.
BINARY_OUTCOME = {"licorice": "treat", "jobs": "work1", "supraclavicular": "group"}
TRIALS.update({name: (analysis, BINARY_OUTCOME.get(name, analysis["outcomes"][0]))
               for name, (_, _, _, analysis) in UNSEEN.items()})
GROUPS = {"fixtures": FIXTURES, "unseen": list(UNSEEN)}
# The covariates each trial's published analysis adjusts for (its stratification factors or
# named prognostic factors; public, from the protocol or paper): ``--adjusted`` also reports the
# arm's effect adjusted for them, on the same real and synthetic tables.
COVARIATES = {"actg175": ["cd40"], "colon": ["node4", "extent", "obstruct"], "gbsg2": ["tsize", "pnodes", "tgrade"],
              "indo_rct": ["risk"], "jobs": ["depress1"], "opt": ["Clinic"]}
METHODS = ("synth", "synth-declared", "synth-declared-label", "synth-declared-split", "mst", "aim")


def declared(meta_path: Path, analysis: dict) -> dict:
    meta = json.loads(meta_path.read_text())
    meta = copy.deepcopy(meta)
    meta["synth_analysis"] = analysis
    return meta


def run_one(dataset: str, method: str, seed: int, epsilon: float, options: dict, adjusted: bool = False
            ) -> list[dict]:
    analysis, label = TRIALS[dataset]
    df, meta_path = load_trial(dataset)
    covariates = COVARIATES.get(dataset, []) if adjusted else []
    meta_doc = declared(meta_path, analysis)
    meta = Metadata.load(meta_doc)
    train, test = split_by_patient(df, meta.sequence_key or meta.primary_key, seed)
    delta = default_delta(len(train))
    started = time.perf_counter()
    extra = {}
    if method.startswith("synth"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "synth":
                plain = {k: v for k, v in meta_doc.items() if k != "synth_analysis"}
                model = Synthesizer(epsilon=epsilon, delta=delta, label=label, seed=seed, **options).fit(train, plain)
            else:
                keep = label if method == "synth-declared-label" else None
                analysis_tables.JOINT_TIME_TO_EVENT = method != "synth-declared-split"
                try:
                    model = Synthesizer(epsilon=epsilon, delta=delta, label=keep, seed=seed, **options).fit(train, meta_doc)
                finally:
                    analysis_tables.JOINT_TIME_TO_EVENT = True
            patients = train[meta.sequence_key].nunique() if meta.sequence_key else len(train)
            syn = model.sample(patients, seed=seed)  # as many patients as the training split (visits: their visits)
        extra = score(train, syn, test, meta_path, label, seed)
    else:
        from bench.peers import fit_sample_peer

        syn = fit_sample_peer(method, train, Metadata.load(meta_path), epsilon, delta, 10, seed)
    fit_s = time.perf_counter() - started
    plain_decl = Metadata.load(declared(meta_path, analysis)).analysis  # the arm alone, as declared
    versions = [(method, plain_decl)]
    if adjusted and covariates:
        versions.append((method + "+adjusted", Metadata.load(declared(meta_path, analysis | {"covariates": covariates})
                                                             ).analysis))
    rows = []
    for name, decl in versions:
        rows += _effect_rows(dataset, name, seed, analysis_fidelity(train, syn, meta, decl), extra, fit_s)
    return rows


def _effect_rows(dataset: str, method: str, seed: int, result: dict, extra: dict, fit_s: float) -> list[dict]:
    rows = []
    for e in result["effects"]:
        r, s = e["real"], e["synthetic"]
        rows.append({"dataset": dataset, "method": method, "seed": seed, "effect": f"{e['label']} ({e['level']})",
                     "real": r.get("estimate"), "real_p": r.get("p_value"), "syn": s.get("estimate"),
                     "syn_p": s.get("p_value"), "overlap": e["ci_overlap"], "sign": e["sign_agrees"],
                     "sig_agree": e["significance_agrees"], "quality": extra.get("quality"),
                     "ratio": extra.get("ratio"), "fit_s": fit_s})
    return rows


def summarise(res: pd.DataFrame) -> None:
    print("| trial | method | effects × seeds | mean CI overlap | sign kept (real significant) | "
          "significant (real not) | significance agrees | quality | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (dataset, method), g in res.groupby(["dataset", "method"], sort=False):
        sig = g[g["real_p"] < 0.05]
        null = g[g["real_p"] >= 0.05]
        kept = f"{int((sig['sign'] == True).sum())}/{len(sig)}" if len(sig) else "–"  # noqa: E712
        false_sig = f"{int((null['syn_p'] < 0.05).sum())}/{len(null)}" if len(null) else "–"
        q = g.groupby("seed")["quality"].first().dropna()
        ra = g.groupby("seed")["ratio"].first().dropna()
        fmt = lambda v: f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else "–"  # noqa: E731
        print(f"| {dataset} | {method} | {len(g)} | {g['overlap'].astype(float).mean():.2f} | {kept} | {false_sig} | "
              f"{g['sig_agree'].astype(float).mean():.2f} | {fmt(q)} | {fmt(ra)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="fixtures", help="trials, or 'fixtures' / 'unseen'")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--set", action="append", default=[], help="a training option for synth, OPTION=VALUE")
    parser.add_argument("--out", help="also write every effect row to this CSV")
    parser.add_argument("--adjusted", action="store_true",
                        help="also the arm's effect adjusted for the trial's covariates (COVARIATES), same tables")
    args = parser.parse_args()
    datasets = [d for name in args.datasets.split(",") for d in GROUPS.get(name, [name])]
    methods = args.methods.split(",")
    if not set(datasets) <= set(TRIALS) or not set(methods) <= set(METHODS):
        parser.error(f"--datasets from {', '.join(TRIALS)}; --methods from {', '.join(METHODS)}")
    options = parse_options(args.set)
    rows = []
    for dataset in datasets:
        for method in methods:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                got = run_one(dataset, method, seed, args.epsilon, options, args.adjusted)
                rows += got
                if args.out:  # every row so far: a crash later loses nothing
                    pd.DataFrame(rows).to_csv(args.out, index=False)
                print("  " + "; ".join(f"{dataset} {method} seed={seed} {r['effect']}: "
                                       f"real {r['real'] if r['real'] is None else format(r['real'], '+.3f')} "
                                       f"synthetic {r['syn'] if r['syn'] is None else format(r['syn'], '+.3f')} "
                                       f"overlap {r['overlap'] if r['overlap'] is None else round(r['overlap'], 2)}"
                                       for r in got), file=sys.stderr, flush=True)
    res = pd.DataFrame(rows)
    if args.out:
        res.to_csv(args.out, index=False)
    print(f"\nε = {args.epsilon}, {args.seeds} seeds from {args.first_seed}, 80/20 split by patient; "
          f"options {options or 'default'}\n")
    summarise(res)


if __name__ == "__main__":
    main()
