"""Where training and sampling run: ``auto`` (a CUDA GPU when torch sees one), ``cpu`` or ``cuda``.

The device changes neither the ledger (σ, q and the steps depend on public numbers only) nor
what a seed samples; the DP noise on a GPU comes from a GPU generator seeded from the same
secret source (:meth:`synth.privacy.randomness.NoiseSource.torch_on`).
"""

from __future__ import annotations

import torch

from synth.errors import SynthError
from synth.options import device_name

__all__ = ["resolve_device"]


def resolve_device(device: str) -> str:
    """``"auto"`` → ``"cuda"`` when torch sees a GPU, else ``"cpu"``; ``"cuda"`` without one is an error."""
    name = device_name(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if not torch.cuda.is_available():  # cuda or cuda:N
        raise SynthError(f"device {device}: torch sees no CUDA GPU here (use cpu or auto)")
    return name
