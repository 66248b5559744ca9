"""Keeping torch's global (public) random stream apart from the steps that read real data.

torch's global generator is seeded with the user's ``seed``: it drives post-processing only
(initialisation, the generator's draws). A step on real data that draws from it (a dropout
mask in the discriminator, any library call that draws without a generator argument) would
draw from a public stream, and would move that stream by an amount that depends on the secret
batch size, so every later public draw would depend on a secret quantity.
:func:`secret_global_stream` runs such a step with the global generator(s) of its device set
from the secret generator, and puts the public stream back exactly where it was afterwards.

Notes
-----
The guarantee is void if a draw inside the block could reach the public stream (the block
restores the CPU generator and the generator of the secret generator's CUDA device; a third
device inside the block is not covered).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from synth.privacy.randomness import mt19937_state

__all__ = ["secret_global_stream"]


@contextlib.contextmanager
def secret_global_stream(noise: torch.Generator) -> Iterator[None]:
    """Inside the block torch's global generators draw from states taken from ``noise`` (secret);
    after it, the global (public) streams are exactly where they were before it."""
    cuda = noise.device.type == "cuda"
    index = (noise.device.index if noise.device.index is not None else torch.cuda.current_device()) if cuda else None
    with torch.random.fork_rng(devices=[index] if cuda else []):
        # 8 words from the secret stream, hashed into the block's state (SeedSequence's mixing is
        # not linear): draws seen inside the block cannot be solved back to the secret mt19937.
        words = torch.randint(0, 2 ** 32, (8,), generator=noise, device=noise.device, dtype=torch.int64).cpu()
        inner = np.random.SeedSequence([int(w) for w in words])
        state = inner.generate_state(624, dtype=np.uint32)
        state[0] = 0x80000000  # only its top bit enters the recurrence: never the all-zero state
        torch.set_rng_state(mt19937_state(state))
        if cuda:  # the noise's own device, whichever is current
            seed = int(inner.spawn(1)[0].generate_state(2, dtype=np.uint64)[0])
            torch.cuda.default_generators[index].manual_seed(seed)
        yield
