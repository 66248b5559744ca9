"""A small API fit, run by tests/distributed/test_distributed.py alone or under torchrun.

    python tests/helpers/distributed_fit.py CSV METADATA MODEL LABEL [NOISE_SEED]

With a noise seed (research runs only) the releases repeat, so one process and several can be
compared release for release. Rank 0 writes MODEL; every rank writes MODEL.rank<r>, a digest of
its generator's weights (the ranks must end with the same generator).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from synth import Synthesizer  # noqa: E402
from tests.conftest import FAST  # noqa: E402


def main(argv: list[str]) -> None:
    data, metadata, model, label = argv[:4]
    if os.environ.get("RANK") == "1" and os.environ.get("SYNTH_TEST_OTHER_DATA"):  # a machine with another file
        data = os.environ["SYNTH_TEST_OTHER_DATA"]
    noise_seed = int(argv[4]) if len(argv) > 4 else None
    synth = Synthesizer(epsilon=1.0, label=label, noise_seed=noise_seed, device="cpu", **{**FAST, "epochs": 1})
    synth.fit(data, metadata)
    synth.save(model)
    digest = hashlib.sha256()
    for name, tensor in sorted(synth._state()["generator"].state_dict().items()):
        digest.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    Path(f"{model}.rank{os.environ.get('RANK', '0')}").write_text(digest.hexdigest())


if __name__ == "__main__":
    main(sys.argv[1:])
