"""The one exception type for bad user input.

Anything raised as :class:`SynthError` is the user's to fix (a file, a column, an option);
the CLI prints its message on one line and exits with code 2. Every other exception is a bug
and keeps its traceback. A :class:`SynthWarning` is input that works but gives poor data;
the CLI prints it on one line after the run.
"""

__all__ = ["SynthError", "SynthWarning"]


class SynthError(ValueError):
    """Bad input: the message names the file, column or option and what is expected."""


class SynthWarning(UserWarning):
    """Input that works but gives poor synthetic data: the message says what to change."""
