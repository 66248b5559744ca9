"""Files: the model file (safetensors + JSON, versioned, checksummed), memory checks, ``synth split``
(the synthetic CSV is written by :mod:`synth.sample`)."""
