"""Where a fit's time goes: one fit, timed phase by phase.

    python -m bench.dev.phases [--dataset actg175 --label cens] [--epsilon 1]

Phases: preprocessing (read, checks, domain releases, encoding), table releases (the noisy
tables and the marginal loss built on them), σ calibration, generator pretraining, DP
discriminator steps, generator steps, checkpoint selection, saving. Each is wrapped around the
function that runs it, so the figures add up to the fit (the rest is the loop's own overhead).
A benchmark tool: nothing here enters a model file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.common import load_table

import synth.models.train as train
import synth.preparation as preparation
import synth.synthesizer as synthesizer
from synth import Synthesizer
from synth.models.checkpoints import CheckpointSelector
from synth.privacy.accountant import Accountant

SPENT: dict[str, float] = defaultdict(float)


def timed(owner, name: str, phase: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its time to ``SPENT[phase]``."""
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[phase] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def instrument() -> None:
    timed(preparation, "release_tables", "table releases")
    timed(preparation, "MarginalLoss", "table releases")
    timed(synthesizer, "train_acgan", "training (all)")
    timed(Accountant, "sigma", "σ calibration")
    timed(train, "_pretrain_generator", "generator pretraining")
    timed(train, "_generator_step", "generator steps")
    timed(CheckpointSelector, "score", "checkpoint selection")
    timed(CheckpointSelector, "restore", "checkpoint selection")


def profile(dataset: str, label: str | None, epsilon: float) -> dict[str, float]:
    """Seconds per phase of one fit and save on ``dataset``."""
    SPENT.clear()
    df, meta = load_table(dataset)
    started = time.perf_counter()
    model = Synthesizer(epsilon=epsilon, label=label).fit(df, meta)
    total = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model.save(Path(tmp) / "m.synth")
        SPENT["saving"] = time.perf_counter() - started
    training = SPENT.pop("training (all)")
    inside = sum(SPENT[k] for k in ("σ calibration", "generator pretraining", "generator steps",
                                     "checkpoint selection"))
    SPENT["DP discriminator steps (and loop)"] = training - inside
    SPENT["preprocessing"] = total - training - SPENT["table releases"]
    SPENT["fit total"] = total
    return dict(SPENT)


ORDER = ["preprocessing", "table releases", "σ calibration", "generator pretraining",
         "DP discriminator steps (and loop)", "generator steps", "checkpoint selection", "saving", "fit total"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="actg175")
    parser.add_argument("--label", default="cens")
    parser.add_argument("--epsilon", type=float, default=1.0)
    args = parser.parse_args()
    instrument()
    spent = profile(args.dataset, args.label or None, args.epsilon)
    total = spent["fit total"]
    print(f"{args.dataset}, label {args.label}, ε = {args.epsilon}: one fit, seconds by phase\n")
    print("| phase | s | share |\n|---|---|---|")
    for phase in ORDER:
        print(f"| {phase} | {spent.get(phase, 0.0):.1f} | {spent.get(phase, 0.0) / total:.0%} |")


if __name__ == "__main__":
    main()
