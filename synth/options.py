"""Checks of the user's options and input paths that need nothing heavy (no torch, pandas, scipy).

:class:`synth.Synthesizer`, :func:`synth.models.device.resolve_device`, ``Metadata.load``,
``read_csv`` and ``read_model`` run them; the CLI runs them before it loads torch, so a mistyped
option or path is answered at once, in the same words.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from synth.errors import SynthError

__all__ = ["check_options", "device_name", "require_file"]


def check_options(epsilon: Any, delta: Any = None, independence: Any = None) -> float:
    """ε as a float, after checking ε > 0, δ in (0, 1) and the independence weight; else a SynthError."""
    epsilon = float(epsilon)
    if not epsilon > 0:
        raise SynthError(f"epsilon must be > 0 (or inf for no privacy), got {epsilon}")
    if delta is not None and not 0 < float(delta) < 1:
        raise SynthError(f"delta must be in (0, 1), got {delta}")
    if independence is not None and not 0 <= float(independence) < math.inf:
        raise SynthError(f"independence must be a finite weight >= 0, got {independence}")
    return epsilon


def device_name(device: str) -> str:
    """``device`` normalised (``auto``, ``cpu``, ``cuda`` or ``cuda:N``), or a SynthError naming the choices.
    Whether a GPU is there is :func:`synth.models.device.resolve_device`'s question (it needs torch)."""
    name = str(device).strip().lower()
    if name in ("auto", "cpu", "cuda") or name.startswith("cuda:"):
        return name
    raise SynthError(f"device must be auto, cpu or cuda, got '{device}'")


def require_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is a file; else "<what> '<path>' not found" (or why it cannot be
    looked up: a name too long, say)."""
    try:
        found = Path(path).is_file()
    except OSError as exc:
        raise SynthError(f"{what} '{path}' cannot be opened ({exc.strerror or exc})") from None
    if not found:
        raise SynthError(f"{what} '{path}' not found")
    return Path(path)
