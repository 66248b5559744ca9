"""The neighbour harness on the bundled trials: how far each mechanism moves when one patient is added.

    OMP_NUM_THREADS=1 python -m bench.neighbours [--dataset actg175|pbcseq] [--trials 3] [--paired]

For each trial: one real patient is drawn at random (the split, not the noise, is seeded) and
taken out; D is the rest, D′ is D with that patient put back at their place in the file. Both
are fitted with the real code path, at ε = 1, with the same research noise seed, through
:mod:`synth.privacy.neighbours` (outputs coupled, Poisson batches coupled with the patient in
every batch). Printed per trial: each kind of mechanism's largest move over its charged
sensitivity (≤ 1 is the guarantee as run), and the DP-SGD step's clipped-sum move, mean and max,
in units of C. ``--paired`` runs the step as it once was (each patient paired with a generated
row laid out by the secret batch size), the figure the audit measured (about 11·C).

The fits are full default fits (fewer pretraining steps: they do not change what is measured).
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

import synth.models.train as train_module
from synth import Metadata, Synthesizer
from synth.models.dp_step import DP_SGD_RELEASE
from synth.privacy.neighbours import paired_step, run_neighbours

DATA = Path(__file__).resolve().parent.parent / "data"
LABELS = {"actg175": "cens", "pbcseq": "status"}


def one_trial(dataset: str, trial: int, paired: bool) -> dict[str, list[float]]:
    df = pd.read_csv(DATA / f"{dataset}.csv")
    meta = Metadata.load(DATA / f"{dataset}.json")
    key = meta.sequence_key or meta.primary_key
    patient = np.random.default_rng(trial).choice(df[key].unique())
    without = df[df[key] != patient].reset_index(drop=True)

    def fit(data: pd.DataFrame) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Synthesizer(epsilon=1.0, label=LABELS[dataset], noise_seed=1000 + trial, seed=trial,
                        pretrain_steps=50).fit(data, DATA / f"{dataset}.json")

    original = train_module.dp_step
    if paired:
        train_module.dp_step = paired_step
    try:
        harness = run_neighbours(fit, without, df)
    finally:
        train_module.dp_step = original
    harness.check()  # every release made on both, in the same order
    moves: dict[str, list[float]] = defaultdict(list)
    for m in harness.moves:
        kind = m.name if m.name == DP_SGD_RELEASE else m.name.split(":")[0]
        moves[kind].append(m.moved / m.sensitivity)
    return moves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="actg175", choices=sorted(LABELS))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--paired", action="store_true", help="the step as it once was")
    args = parser.parse_args()
    step = "paired with generated rows (before)" if args.paired else "row by row (shipped)"
    print(f"{args.dataset}: D vs D plus one patient, ε = 1, DP-SGD step {step}, {args.trials} trials\n")
    print("| trial | mechanism | releases | largest move / sensitivity | mean move / sensitivity |")
    print("|---|---|---|---|---|")
    for trial in range(args.trials):
        for kind, moved in sorted(one_trial(args.dataset, trial, args.paired).items()):
            print(f"| {trial} | {kind} | {len(moved)} | {max(moved):.3f} | {np.mean(moved):.3f} |", flush=True)


if __name__ == "__main__":
    main()
