"""Where every mechanism on real data reports what it computed and what it released.

Each mechanism calls :func:`released` once per release with its pre-noise statistic (the
quantity whose sensitivity the ledger charges) and its noisy output. Normally nothing listens
and the call returns the output unchanged. Two kinds of caller listen, never in a user's fit:

- the neighbour harness (:mod:`synth.privacy.neighbours`) runs the real code path on D and on
  D plus one patient, records every pre-noise statistic, and on the second run replaces each
  output by the first run's (so every later choice, every network weight and every public
  stream is the same in both runs) to check that each statistic moved by at most its
  sensitivity;
- the empirical audit (``bench/audit.py``) reads the noisy outputs, which a white-box adversary
  may see, to score its canaries.

Notes
-----
An observer sees exact statistics on real data: it exists for tests and audits on synthetic
tables only. The guarantee is void if a listener is installed during a fit whose output is
shared, or if a mechanism draws noise without reporting here (the harness could not see it).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Listener", "listening", "active", "released", "drawn"]

# (name, pre-noise statistic, noisy output, L2 sensitivity charged, context) → the output to use
Listener = Callable[[str, Any, Any, float, dict], Any]

# Per context (thread, task): a listener installed by a test never hears another thread's fit.
_current: contextvars.ContextVar[tuple[Listener, ...]] = contextvars.ContextVar("synth_observe_listeners",
                                                                               default=())


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Install ``listener`` for the duration of the block, in this context only (tests and audits)."""
    token = _current.set(_current.get() + (listener,))
    try:
        yield
    finally:
        _current.reset(token)


def active() -> bool:
    """Whether anyone listens (mechanisms skip the work of reporting otherwise)."""
    return bool(_current.get())


def released(name: str, statistic: Any, output: Any, sensitivity: float, **context: Any) -> Any:
    """Report one release; return the output the mechanism must use (``output`` unless a listener
    replaces it). ``context`` carries public state a listener may need (e.g. the discriminator)."""
    for listener in _current.get():
        output = listener(name, statistic, output, sensitivity, context)
    return output


def drawn(name: str, value: Any, **context: Any) -> Any:
    """Report a secret draw whose layout depends on secret quantities (a Poisson batch's
    membership); return the draw to use. Listeners get ``statistic=None`` and sensitivity 0:
    the neighbour harness uses it to couple the two runs' draws patient by patient."""
    for listener in _current.get():
        value = listener(name, None, value, 0.0, context)
    return value
