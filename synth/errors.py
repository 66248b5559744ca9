"""The one exception type for bad user input.

Anything raised as :class:`SynthError` is the user's to fix (a file, a column, an option);
the CLI prints its message on one line and exits with code 2. Every other exception is a bug
and keeps its traceback.
"""

__all__ = ["SynthError"]


class SynthError(ValueError):
    """Bad input: the message names the file, column or option and what is expected."""
