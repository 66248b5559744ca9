"""One fit over several processes: torch.distributed, as ``torchrun`` (or ``synth fit --nproc``) starts it.

Every process (rank) reads the same CSV and metadata, and all draw the releases' noise from one
secret stream (rank 0's OS entropy, sent over the process group: :func:`shared_secret`), so every
rank holds the same releases: one draw each. The domain's releases (N, categories, bounds, label
counts) are computed on the whole table by every rank; then each rank keeps its shard of the
patients (patient i goes to rank i mod W): the tables are counted on the shards and summed across
ranks before the noise is added (:func:`sum_across`, :mod:`synth.release.shards`), and for DP-SGD
each rank draws its shard's Poisson batch at the ledger's rate q from its own secret torch stream,
seeded from that process's OS entropy and never from the shared secret (the union is one Poisson
batch of all patients at rate q), the clipped gradient sums are added across ranks, and rank 0 alone
adds the Gaussian noise, from its own stream (Opacus'
``DistributedDPOptimizerFastGradientClipping``). The accountant sees the same q, σ and steps as in
one process.

Notes
-----
What would void the guarantee: ranks drawing their Poisson batches from one stream (the batches
would be correlated, not independent at rate q), a torch stream (Poisson batches, gradient noise)
derived from the shared secret, which every rank and the network see, noise added on more than one
rank, a shard that holds a patient twice or a patient on two ranks, or releases that differ between
ranks (:func:`check_same` stops the run when their fingerprints differ), or a process group others
can listen to: the releases' shared seed and the exact sums before the noise travel between the
ranks unencrypted (they are never stored).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from synth.errors import SynthError

__all__ = ["Ranks", "SINGLE", "join", "leave", "shared_secret", "sum_across", "check_same", "all_reduce_flat",
           "average_gradients", "broadcast_parameters"]

TIMEOUT = _dt.timedelta(minutes=30)  # a collective that waits longer than this ends the run


@dataclass(frozen=True)
class Ranks:
    """This process's place in the fit: ``rank`` of ``world`` processes (``local`` on its machine);
    ``owned``: synth started the process group (and ends it after training)."""

    rank: int = 0
    world: int = 1
    local: int = 0
    owned: bool = False

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes files and shows progress."""
        return self.rank == 0

    def shard(self, n: int) -> np.ndarray:
        """The indices of this rank's patients among ``n``: i with i mod world == rank (disjoint, covering)."""
        return np.arange(self.rank, n, self.world)


SINGLE = Ranks()


def _env_world() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise SynthError(f"WORLD_SIZE must be a whole number, got '{os.environ['WORLD_SIZE']}'") from None


def join(device: str) -> tuple[Ranks, str]:
    """This process's :class:`Ranks` and device; joins the process group torchrun describes.

    Outside torchrun (no ``WORLD_SIZE`` above 1) this is one process on ``device``. Under
    torchrun it initialises torch.distributed once (gloo on the CPU, NCCL on CUDA, each rank on
    GPU ``LOCAL_RANK``).
    """
    if not dist.is_available() or (not dist.is_initialized() and _env_world() <= 1):
        return SINGLE, device
    cuda = str(device).startswith("cuda")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        if local >= torch.cuda.device_count():
            raise SynthError(f"--device cuda over several processes needs one GPU per process on each machine: "
                             f"local rank {local}, and torch sees {torch.cuda.device_count()} GPU(s)")
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)
    ranks = Ranks(dist.get_rank(), dist.get_world_size(), local, owned)
    return ranks, device


def leave(ranks: Ranks, wait: bool = True) -> None:
    """End the process group synth started (a gloo group left open when the interpreter exits can
    abort the process): after training, once every rank is there (``wait``); after an error, at once."""
    if ranks.distributed and ranks.owned and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def _words(value: int) -> torch.Tensor:
    return torch.tensor([(value >> (31 * i)) & (2**31 - 1) for i in range(5)], dtype=torch.int64)


def shared_secret(ranks: Ranks, device: str = "cpu") -> int:
    """A 128-bit secret from rank 0's OS entropy, the same on every rank (never stored): the seed of
    the releases' NumPy stream only. It is sent in the clear, so every rank (and anyone on the
    network) knows it: seeding a torch stream (Poisson batches, gradient noise) from it voids
    the guarantee (:class:`synth.privacy.randomness.NoiseSource` never does)."""
    value = secrets.randbits(128) if ranks.leader else 0
    if not ranks.distributed:
        return value
    words = _words(value).to(device)
    dist.broadcast(words, 0)
    return sum(int(w) << (31 * i) for i, w in enumerate(words.cpu().tolist()))


def sum_across(ranks: Ranks, device: str = "cpu"):
    """The function adding a rank's exact counts up across ranks (for
    :func:`synth.release.shards.counting_shards`), or None in one process."""
    if not ranks.distributed:
        return None

    def add(counts: np.ndarray) -> np.ndarray:
        summed = torch.as_tensor(np.ascontiguousarray(counts, dtype=np.float64)).to(device)
        dist.all_reduce(summed, op=dist.ReduceOp.SUM)
        return summed.cpu().numpy().reshape(np.shape(counts))

    return add


def check_same(ranks: Ranks, fingerprint: str, what: str, device: str = "cpu") -> None:
    """Stop the run when any rank's ``fingerprint`` (of its releases) differs from rank 0's."""
    if not ranks.distributed:
        return
    digest = hashlib.sha256(fingerprint.encode()).digest()[:8]
    mine = torch.tensor([int.from_bytes(digest, "big") >> 2], dtype=torch.int64, device=device)
    everyone = [torch.zeros_like(mine) for _ in range(ranks.world)]
    dist.all_gather(everyone, mine)
    differ = [r for r, v in enumerate(everyone) if int(v) != int(everyone[0])]
    if differ:
        raise SynthError(f"rank {differ[0]} of {ranks.world} computed other {what} than rank 0: every process "
                         "must read the same CSV and metadata (the same file on every machine)")


def all_reduce_flat(tensors: list[torch.Tensor], divide: int = 1) -> None:
    """Sum each tensor across ranks in place (divided by ``divide``), in one all-reduce of their
    concatenation: one round trip per step instead of one per parameter."""
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    if divide != 1:
        flat /= divide
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def average_gradients(module: torch.nn.Module, ranks: Ranks) -> None:
    """The mean of each parameter's gradient over the ranks (the generator: post-processing only)."""
    if not ranks.distributed:
        return
    params = list(module.parameters())
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    all_reduce_flat([p.grad for p in params], ranks.world)


def broadcast_parameters(module: torch.nn.Module, ranks: Ranks) -> None:
    """Rank 0's parameters on every rank."""
    if not ranks.distributed:
        return
    with torch.no_grad():
        for p in module.parameters():
            dist.broadcast(p.data, 0)
