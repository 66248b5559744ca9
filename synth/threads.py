"""How many threads one synth process computes with: one, unless the user says otherwise.

torch's default is one OpenMP thread per core, and OpenMP threads busy-wait for work between
parallel regions: beside other busy processes (other fits, a test suite, ranks of the same
fit), a process's threads spin on cores that others need, and a fit that takes 20 CPU-seconds
alone took 342 CPU-seconds and 20 minutes beside them (issue 47). synth's nets are small, so
one thread loses little when the machine is idle, and the cores are shared fairly when it is not.

The policy, in order: ``threads`` given explicitly (``--threads N``, ``Synthesizer(threads=N)``);
else ``OMP_NUM_THREADS`` when the user set it to a whole number; else 1. It is applied where a
process starts its work: the CLI's commands, ``Synthesizer`` construction, fit and sample (so
each rank of a fit over several processes too). Importing this module imports nothing heavy.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

from synth.errors import SynthError

__all__ = ["DEFAULT_THREADS", "threads_for", "use_threads", "limit_threads"]

DEFAULT_THREADS = 1


def _from_environment() -> int | None:
    """``OMP_NUM_THREADS`` as a thread count, or None when it is unset or not a whole number > 0
    (OpenMP's nested form ``4,2`` counts its first level)."""
    text = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value > 0 else None


def threads_for(threads: int | None = None) -> int:
    """The thread count the policy chooses: ``threads`` if given, else ``OMP_NUM_THREADS``, else 1."""
    if threads is None:
        return _from_environment() or DEFAULT_THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SynthError(f"--threads must be a whole number >= 1, got {threads!r}")
    return threads


def use_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads by the policy (:func:`threads_for`); the count set.

    Imports torch: call it where the work starts, not at import time.
    """
    count = threads_for(threads)
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


@contextmanager
def limit_threads(threads: int | None = None) -> Iterator[int]:
    """Within the block, every thread pool loaded in this process (torch's, scikit-learn's
    OpenMP, BLAS) uses the policy's count; each is restored after. For work that is not torch's
    (``synth evaluate``). Pools loaded inside the block are limited only where they read
    ``OMP_NUM_THREADS`` themselves: import them first."""
    count = threads_for(threads)
    from threadpoolctl import threadpool_limits

    before = sys.modules["torch"].get_num_threads() if "torch" in sys.modules else None
    with threadpool_limits(limits=count):
        if before is not None:
            sys.modules["torch"].set_num_threads(count)
        try:
            yield count
        finally:
            if before is not None:
                sys.modules["torch"].set_num_threads(before)
