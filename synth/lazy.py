"""Names a module imports on first use (PEP 562), so that ``import synth`` and ``synth --help``
load no torch, pandas or scipy: one helper for the package and the command line."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` that imports each of ``names`` (a name →
    ``"package.module:attribute"``) when first asked for and keeps it as an ordinary attribute."""

    def __getattr__(name: str) -> Any:
        try:
            source, _, attribute = names[name].partition(":")
        except KeyError:
            raise AttributeError(f"module '{module}' has no attribute '{name}'") from None
        value = getattr(importlib.import_module(source), attribute)
        setattr(sys.modules[module], name, value)  # once loaded, an ordinary attribute
        return value

    return __getattr__
