"""The one exception type for bad user input.

Anything raised as :class:`SynthError` is the user's to fix (a file, a column, an option);
the CLI prints its message on one line and exits with code 2. Messages, warnings too, end up in
shared notebooks: they name columns, files, options and public metadata, never a count of the
data (patients, rows, values) or a value read from it. Every other exception is a bug
and keeps its traceback. A :class:`SynthWarning` is input that works but gives poor data;
the CLI prints it on one line after the run.
"""

__all__ = ["SynthError", "SynthWarning", "FIX_IN_METADATA"]

# Appended to errors about values that break the metadata: the metadata is public, so a value
# must never be copied from the data into it to make the error go away.
FIX_IN_METADATA = ("fix the data, or the metadata from the protocol or data dictionary "
                   "(never by copying values from the data: metadata is public)")


class SynthError(ValueError):
    """Bad input: the message names the file, column or option and what is expected."""


class SynthWarning(UserWarning):
    """Input that works but gives poor synthetic data: the message says what to change."""
