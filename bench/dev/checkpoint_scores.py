"""Checkpoint scores whole and in row blocks: their share of a pbcseq fit, and that they agree.

    OMP_NUM_THREADS=1 python -m bench.dev.checkpoint_scores [--repeats 2] [--epochs 3]

pbcseq fits (label trt, ε = 1, a research noise seed, seed = the repeat), alternated with
``synth.models.checkpoints.SCORE_BLOCK`` at 256 (shipped) and None (the whole 4,096-row batch
at once, before issue 47): the fit's CPU seconds, the scores' CPU seconds and their share, and
whether the two fits' scores are bit-identical repeat by repeat (they must be: the same fit).
A benchmark tool: nothing here enters a model file.
"""

from __future__ import annotations

import argparse
import time
import warnings

from synth import Synthesizer
from synth.models import checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    spent: list[float] = []
    values: list[float] = []
    score = checkpoints.CheckpointSelector.score

    def timed(self, gen):
        started = time.process_time()
        value = score(self, gen)
        spent.append(time.process_time() - started)
        values.append(value)
        return value
    checkpoints.CheckpointSelector.score = timed
    runs: dict[str, list[tuple[float, float, int, list[float]]]] = {"blocks": [], "whole": []}
    for rep in range(args.repeats):
        for name in ("blocks", "whole") if rep % 2 == 0 else ("whole", "blocks"):
            checkpoints.SCORE_BLOCK = 256 if name == "blocks" else None
            spent.clear()
            values.clear()
            started = time.process_time()
            Synthesizer(epsilon=1.0, label="trt", epochs=args.epochs, noise_seed=100, seed=rep).fit(
                "data/pbcseq.csv", "data/pbcseq.json")
            runs[name].append((time.process_time() - started, sum(spent), len(spent), list(values)))
    same = all(a[3] == b[3] for a, b in zip(runs["blocks"], runs["whole"]))
    print(f"## Checkpoint scores: pbcseq, {args.epochs} epochs, {args.repeats} fits each, alternated\n")
    print("| scores | fit CPU-s (runs) | scores CPU-s | ms a score | share of the fit |\n|---|---|---|---|---|")
    for name, label in (("blocks", "256-row blocks (shipped)"), ("whole", "whole batch (before)")):
        r = runs[name]
        fit, scores, count = (sum(x[i] for x in r) / len(r) for i in range(3))
        print(f"| {label} | {fit:.1f} ({', '.join(f'{x[0]:.1f}' for x in r)}) | {scores:.2f} "
              f"| {1000 * scores / count:.0f} | {scores / fit:.3f} |")
    print(f"\nscores bit-identical, repeat by repeat: {'yes' if same else '**no**'}")


if __name__ == "__main__":
    main()
