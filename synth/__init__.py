"""synth: differentially private synthetic clinical-trial data (DP AC-GAN).

    from synth import Synthesizer
    s = Synthesizer(epsilon=1.0, label="cens").fit(df, metadata="data/actg175.json")
    s.sample(5000); s.save("actg.synth"); Synthesizer.load("actg.synth")
"""

from synth.errors import SynthError, SynthWarning
from synth.schema.metadata import Metadata
from synth.synthesizer import Synthesizer

__all__ = ["Synthesizer", "Metadata", "SynthError", "SynthWarning"]
__version__ = "0.1.0"
