"""``python -m synth``: the same command line as ``synth``."""

from synth.cli import app

app(prog_name="synth")
