"""A small API fit, run by tests/test_distributed.py alone or under torchrun.

    python tests/distributed_fit.py CSV METADATA MODEL LABEL [NOISE_SEED]

With a noise seed (research runs only) the releases repeat, so one process and several can be
compared release for release. Rank 0 writes MODEL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from synth import Synthesizer  # noqa: E402
from tests.conftest import FAST  # noqa: E402


def main(argv: list[str]) -> None:
    data, metadata, model, label = argv[:4]
    noise_seed = int(argv[4]) if len(argv) > 4 else None
    synth = Synthesizer(epsilon=1.0, label=label, noise_seed=noise_seed, device="cpu", **FAST)
    synth.fit(data, metadata)
    synth.save(model)


if __name__ == "__main__":
    main(sys.argv[1:])
