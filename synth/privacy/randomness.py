"""The one source of randomness for every mechanism that reads real data.

Gaussian releases, category thresholds, pair selection, Poisson batches and DP-SGD's gradient
noise all draw from one :class:`NoiseSource`. By default it is seeded from OS entropy
(``secrets``, 128 bits for NumPy's PCG64, 64 bits for torch's generator) and the seed is never
kept: nobody, the data holder included, can replay the noise from anything synth writes.

A user's ``seed`` fixes post-processing only (network initialisation, the generator's draws,
sampling synthetic rows). For research runs that must repeat a fit exactly, ``noise_seed``
fixes the noise too; it is never written anywhere, and the ledger then says that the guarantee
assumes the seed is secret.

Notes
-----
The guarantee is void if a mechanism draws from any other generator (NumPy's or torch's global
state, a generator seeded with ``seed``), if the noise seed is stored or printed, or if a
``noise_seed`` known to anyone but the data holder is used for a release that is shared.
The generators are statistically sound, not cryptographic; floating-point attacks on the
Gaussian sampler (Mironov 2012) are outside this module's model.
"""

from __future__ import annotations

import secrets

import numpy as np
import torch

__all__ = ["NoiseSource", "OS_ENTROPY", "CALLER_SEEDED"]

OS_ENTROPY = "OS entropy (secret, never stored)"
CALLER_SEEDED = "noise seeded by the caller: the guarantee assumes the seed is secret"


class NoiseSource:
    """A NumPy generator and a torch generator for mechanisms on real data.

    ``noise_seed=None`` (the default) draws fresh OS entropy; an integer seeds both generators
    for research runs (see the module's Notes). The seed is not kept as an attribute.

    Several processes of one fit (:mod:`synth.distributed`) pass rank 0's OS entropy as
    ``shared`` and their ``rank``: the NumPy generator (the releases) is then the same on every
    rank, so each release is one draw, while each rank's torch generator (its Poisson batches;
    rank 0's also the gradient noise) is an independent stream.
    """

    def __init__(self, noise_seed: int | None = None, shared: int | None = None, rank: int = 0):
        if noise_seed is not None:
            sequence = np.random.SeedSequence(int(noise_seed))
        else:
            sequence = np.random.SeedSequence(secrets.randbits(128) if shared is None else int(shared))
        numpy_seq, torch_seq = sequence.spawn(2)
        if rank:
            torch_seq = torch_seq.spawn(rank)[rank - 1]  # independent of rank 0's stream and of each other's
        self.numpy = np.random.Generator(np.random.PCG64(numpy_seq))
        words = torch_seq.generate_state(2, dtype=np.uint32)
        self.torch = torch.Generator().manual_seed(int(words[0]) << 31 ^ int(words[1]))
        self.description = OS_ENTROPY if noise_seed is None else CALLER_SEEDED

    def torch_on(self, device: torch.device | str) -> torch.Generator:
        """The torch generator for ``device``: :attr:`torch` on the CPU; elsewhere a generator on that
        device seeded by a draw from :attr:`torch` (so it is as secret, and as repeatable under a
        ``noise_seed``, as the CPU one; the draw is not kept)."""
        device = torch.device(device)
        if device.type == "cpu":
            return self.torch
        words = torch.randint(0, 2 ** 62, (1,), generator=self.torch)
        return torch.Generator(device=device).manual_seed(int(words))

    @property
    def secret(self) -> bool:
        """True when the noise cannot be replayed from anything the caller chose."""
        return self.description == OS_ENTROPY

    def __repr__(self) -> str:
        return f"NoiseSource({self.description})"


_MT_WORDS = 624  # mt19937's state: 624 32-bit words (19,937 bits)
_MT_OFFSET = 24  # byte offset of the word array in torch's CPU generator state (after seed, left, seeded, next)


def mt19937_state(words: list[int]) -> torch.Tensor:
    """A torch CPU generator state whose mt19937 words are ``words`` (624 values below 2^32),
    for ``torch.Generator.set_state``/``torch.set_rng_state``: the full state, where
    ``manual_seed`` keeps only the seed's low 32 bits."""
    if len(words) != _MT_WORDS:
        raise ValueError(f"mt19937 needs {_MT_WORDS} words, got {len(words)}")
    state = torch.Generator().manual_seed(1).get_state().numpy().copy()  # left = 1: the next draw twists
    array = np.asarray(words, dtype=np.uint64)
    if array.max(initial=0) >= 2 ** 32 or not array.any():
        raise ValueError("mt19937 words must be below 2^32 and not all zero")
    state[_MT_OFFSET:_MT_OFFSET + 8 * _MT_WORDS] = array.astype("<u8").view(np.uint8)
    return torch.from_numpy(state)
