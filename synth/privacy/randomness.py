"""The one source of randomness for every mechanism that reads real data.

Gaussian releases, category thresholds, pair selection, Poisson batches and DP-SGD's gradient
noise all draw from one :class:`NoiseSource`. By default both of its generators come from OS
entropy (``secrets``, 128 bits each) and no seed is kept: nobody, the data holder included, can
replay the noise from anything synth writes. NumPy's PCG64 takes the 128 bits as they are;
torch's CPU generator (mt19937) gets its whole 624-word state filled from them
(:func:`mt19937_state`), because ``torch.Generator.manual_seed`` keeps only the low 32 bits of
a seed, which anyone could search. A GPU generator (Philox) gets a 64-bit seed and a random
counter offset drawn from the CPU one (:meth:`NoiseSource.torch_on`).

A user's ``seed`` fixes post-processing only (network initialisation, the generator's draws,
sampling synthetic rows). For research runs that must repeat a fit exactly, ``noise_seed``
fixes the noise too; it is never written anywhere, and the ledger then says that the guarantee
assumes the seed is secret.

Notes
-----
The guarantee is void if a mechanism draws from any other generator (NumPy's or torch's global
state, a generator seeded with ``seed``), if a generator that touches real data is seeded with
``manual_seed`` (32 bits) instead of :func:`mt19937_state`, if the noise seed or a generator's
state is stored or printed, if a torch stream is derived from a value other processes know
(``shared``: it travels in the clear), or if a ``noise_seed`` known to anyone but the data
holder is used for a release that is shared. The generators are statistically sound, not
cryptographic; floating-point attacks on the Gaussian sampler (Mironov 2012) are outside this
module's model.
"""

from __future__ import annotations

import secrets
import struct

import numpy as np
import torch

__all__ = ["NoiseSource", "OS_ENTROPY", "CALLER_SEEDED", "mt19937_state", "torch_generator", "philox_seed"]

OS_ENTROPY = "OS entropy (secret, never stored)"
CALLER_SEEDED = "noise seeded by the caller: the guarantee assumes the seed is secret"

MT_WORDS = 624  # mt19937's state: 624 32-bit words
_HEADER = struct.Struct("=QiiQ")  # the_initial_seed, left, seeded, next (torch's CPUGeneratorImplStateLegacy)


def mt19937_state(words: np.ndarray) -> torch.Tensor:
    """The bytes ``torch.Generator.set_state`` takes for a CPU generator whose mt19937 words are ``words``.

    torch's state (``CPUGeneratorImplState``) is the legacy pod, ``the_initial_seed`` (u64),
    ``left`` (i32), ``seeded`` (i32), ``next`` (u64), ``state[624]`` (u64, low 32 bits used),
    then the cached normal samples, all zero here (none cached). ``left = 1, next = 0`` makes the
    first draw twist the words, as a freshly seeded generator does; ``the_initial_seed`` is 0
    (there is no seed, and ``initial_seed()`` must not reveal the words).

    ``words`` must be 624 values below 2**32 that are not all zero outside word 0's top bit
    (:func:`torch_generator` sets word 0 to 2**31, as NumPy's MT19937 does). The stream is as
    secret as ``words``: storing or printing them, or this tensor, voids the guarantee.
    """
    words = np.asarray(words)
    if words.shape != (MT_WORDS,) or words.min() < 0 or words.max() >= 2**32:
        raise ValueError(f"mt19937 takes {MT_WORDS} words below 2**32, got shape {words.shape}")
    size = torch.Generator().get_state().numel()
    body = _HEADER.pack(0, 1, 1, 0) + words.astype("=u8").tobytes()
    if size < len(body):
        raise RuntimeError(f"torch's CPU generator state is {size} bytes, below mt19937's {len(body)}: "
                           "its layout changed; see synth/privacy/randomness.py")
    return torch.frombuffer(bytearray(body + bytes(size - len(body))), dtype=torch.uint8)


def torch_generator(sequence: np.random.SeedSequence) -> torch.Generator:
    """A torch CPU generator whose whole mt19937 state comes from ``sequence`` (all its entropy,
    128 bits from OS entropy, not the 32 ``manual_seed`` keeps)."""
    words = sequence.generate_state(MT_WORDS, dtype=np.uint32)
    words[0] = 0x80000000  # only its top bit enters the recurrence: never the all-zero state
    generator = torch.Generator()
    generator.set_state(mt19937_state(words))
    return generator


def philox_seed(source: torch.Generator) -> tuple[int, int]:
    """A 64-bit seed and an offset (a multiple of 4, as Philox counts in fours, below 2**63) for a
    GPU generator, drawn from the secret CPU generator ``source``; printing them voids the guarantee."""
    # each value is a 64-bit draw modulo 2**32, so 32 uniform bits (randint(0, 2**62) gives 62 in all)
    hi, lo, off_hi, off_lo = torch.randint(0, 2**32, (4,), dtype=torch.int64, generator=source).tolist()
    return hi << 32 | lo, (off_hi << 32 | off_lo) >> 3 << 2


class NoiseSource:
    """A NumPy generator (the releases) and a torch generator (Poisson batches, DP-SGD's noise).

    ``noise_seed=None`` (the default) draws fresh OS entropy for each; an integer seeds both
    for research runs (see the module's Notes). No seed is kept as an attribute.

    Several processes of one fit (:mod:`synth.distributed`) pass rank 0's OS entropy as
    ``shared`` and their ``rank``: the NumPy generator (the releases) is then the same on every
    rank, so each release is one draw. ``shared`` travels between the ranks in the clear, so it
    never touches torch: each rank's torch generator (its Poisson batches; rank 0's also the
    gradient noise) comes from this process's own OS entropy. Under a ``noise_seed`` rank r's
    torch stream is derived from the noise_seed and r instead, so research runs repeat.
    """

    def __init__(self, noise_seed: int | None = None, shared: int | None = None, rank: int = 0):
        if noise_seed is not None:
            numpy_seq, torch_seq = np.random.SeedSequence(int(noise_seed)).spawn(2)
            if rank:
                torch_seq = torch_seq.spawn(rank)[rank - 1]  # independent of rank 0's stream and of each other's
        else:
            release = secrets.randbits(128) if shared is None else int(shared)
            numpy_seq = np.random.SeedSequence(release).spawn(2)[0]
            torch_seq = np.random.SeedSequence(secrets.randbits(128))  # this process's own: never from shared
        self.numpy = np.random.Generator(np.random.PCG64(numpy_seq))
        self.torch = torch_generator(torch_seq)
        self.description = OS_ENTROPY if noise_seed is None else CALLER_SEEDED

    def torch_on(self, device: torch.device | str) -> torch.Generator:
        """The torch generator for ``device``: :attr:`torch` on the CPU; on a GPU a Philox generator
        with a 64-bit seed and a random offset (a multiple of 4 below 2**63) drawn from :attr:`torch`
        (so it is as secret, and as repeatable under a ``noise_seed``, as the CPU one; the draws are
        not kept). Philox's key is 64 bits; the offset adds 61 bits of where its counter starts, less
        the log2 of the draws a fit takes (a stream may overlap a neighbouring offset's)."""
        device = torch.device(device)
        if device.type == "cpu":
            return self.torch
        seed, offset = philox_seed(self.torch)
        generator = torch.Generator(device=device)
        generator.manual_seed(seed)
        generator.set_offset(offset)
        return generator

    @property
    def secret(self) -> bool:
        """True when the noise cannot be replayed from anything the caller chose."""
        return self.description == OS_ENTROPY

    def __repr__(self) -> str:
        return f"NoiseSource({self.description})"

