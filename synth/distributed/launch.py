"""``synth fit --nproc N``: N local processes under torch's elastic agent (what ``torchrun`` runs).

Each process runs ``python -m synth`` with the same arguments, minus ``--nproc``; torch.distributed
joins them (:func:`synth.distributed.group.join`). When any of them fails, the agent stops the
others and the run ends with one line and no model file: the model file is written by rank 0
only after training, through a temporary file.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

from synth.errors import SynthError

__all__ = ["launch", "RankFailed", "MAX_PROCESSES"]

MAX_PROCESSES = 256
USAGE_ERROR = 2  # a rank's SynthError (rank 0 printed the line)


class RankFailed(SynthError):
    """A rank ended without finishing (a crash, a signal): not the input's fault."""


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m synth *argv`` in ``nproc`` processes on this machine; their exit code.

    0 when every rank finished; 2 when a rank stopped on bad input (rank 0 has said why on
    stderr); otherwise raises :class:`RankFailed` naming the first rank that failed and how.
    """
    if not 1 < nproc <= MAX_PROCESSES:
        raise SynthError(f"--nproc must be between 1 and {MAX_PROCESSES}, got {nproc}")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # the run ends in one line
    # Threads: each rank's `synth fit` applies synth.threads' policy (one, unless told otherwise).
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"synth-{uuid.uuid4().hex[:12]}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.2)
    try:
        elastic_launch(config, sys.executable)("-m", "synth", *argv)
    except ChildFailedError as exc:
        if any(f.exitcode == USAGE_ERROR for f in exc.failures.values()):
            return USAGE_ERROR
        rank, first = exc.get_first_failure()  # the agent then stopped the others
        code = first.exitcode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise RankFailed(f"rank {rank} of {nproc} {how}; the run was stopped and no model file was written") from None
    return 0
