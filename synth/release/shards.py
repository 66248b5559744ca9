"""Exact counts over shards: each process counts its own patients, the sums are what get noised.

A fit over several processes (:mod:`synth.distributed`) counts every table on each rank's shard
of the patients in one vectorized pass, then adds the rank's counts up across ranks
(:func:`counting_shards` installs the sum) before the Gaussian noise is added, once, to the
total; every rank draws that noise from the same secret stream, so all hold the same release.
One process: the sum is the counts themselves.

What would void the guarantee: noise added to a rank's partial counts (it would be added W
times, and each partial count would be a release of its own), or a shard that holds a patient
twice (a patient's L2 contribution to the total would exceed 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

__all__ = ["total", "counting_shards"]

_SUM: ContextVar[Callable[[np.ndarray], np.ndarray] | None] = ContextVar("synth_sum_of_shards", default=None)


def total(counts: np.ndarray) -> np.ndarray:
    """Exact counts of this process's patients → the counts of every patient (before any noise)."""
    add = _SUM.get()
    return counts if add is None else add(counts)


@contextmanager
def counting_shards(add: Callable[[np.ndarray], np.ndarray] | None) -> Iterator[None]:
    """Within the block, :func:`total` sums counts across processes with ``add`` (None: one process)."""
    token = _SUM.set(add)
    try:
        yield
    finally:
        _SUM.reset(token)
