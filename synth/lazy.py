"""Names a module imports on first use (PEP 562), so that ``import synth`` and ``synth --help``
load no torch, pandas or scipy: one helper for the package and the command line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(module: str, loaders: dict[str, Callable[[], Any]]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` that loads each name of ``loaders`` (a name →
    a function that imports and returns it, with an ordinary ``from … import`` of the package's
    own code) when first asked for, and keeps it as an ordinary attribute."""

    def __getattr__(name: str) -> Any:
        if name not in loaders:
            raise AttributeError(f"module '{module}' has no attribute '{name}'")
        value = loaders[name]()
        setattr(sys.modules[module], name, value)  # once loaded, an ordinary attribute
        return value

    return __getattr__
