"""synth: differentially private synthetic clinical-trial data (DP AC-GAN).

    from synth import Synthesizer
    s = Synthesizer(epsilon=1.0, label="cens").fit(df, metadata="data/actg175.json")
    s.sample(5000); s.save("actg.synth"); Synthesizer.load("actg.synth")

``import synth`` is cheap: ``Synthesizer`` and ``Metadata`` (torch, pandas) load on first use
(PEP 562), so the command line starts at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synth.errors import SynthError, SynthWarning
from synth.lazy import lazy_names

if TYPE_CHECKING:
    from synth.schema.metadata import Metadata
    from synth.synthesizer import Synthesizer

__all__ = ["Synthesizer", "Metadata", "SynthError", "SynthWarning"]
__version__ = "0.1.0"


def _synthesizer() -> type:
    from synth.synthesizer import Synthesizer

    return Synthesizer


def _metadata() -> type:
    from synth.schema.metadata import Metadata

    return Metadata


__getattr__ = lazy_names(__name__, {"Synthesizer": _synthesizer, "Metadata": _metadata})


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
