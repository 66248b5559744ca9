"""The one exception type for bad user input.

Anything raised as :class:`SynthError` is the user's to fix (a file, a column, an option);
the CLI prints its message on one line and exits with code 2. Messages, warnings too, end up in
shared notebooks: they name columns, files, options and public metadata, never a count of the
data (patients, rows, values) or a value read from it. Every other exception is a bug
and keeps its traceback. A :class:`SynthWarning` is input that works but gives poor data;
the CLI prints it on one line after the run.
"""

import re

__all__ = ["SynthError", "SynthWarning", "FIX_IN_METADATA", "budget_error"]

# Appended to errors about values that break the metadata: the metadata is public, so a value
# must never be copied from the data into it to make the error go away.
FIX_IN_METADATA = ("fix the data, or the metadata from the protocol or data dictionary "
                   "(never by copying values from the data: metadata is public)")


class SynthError(ValueError):
    """Bad input: the message names the file, column or option and what is expected."""


class SynthWarning(UserWarning):
    """Input that works but gives poor synthetic data: the message says what to change."""


# calibrate_sigma's two messages (synth.privacy.accountant): the ε it names is one release's share.
_TOO_SMALL = re.compile(r"^epsilon (\S+) (?:\(this release's share of epsilon\) )?is too small")


def budget_error(exc: SynthError, epsilon: float) -> SynthError:
    """A too-small budget said in the caller's own ε (the accountant names only one release's
    share of it) and what is too small about it; any other error as it is."""
    found = _TOO_SMALL.match(str(exc))
    if not found:
        return exc
    try:
        share = float(found.group(1)) / epsilon
    except ValueError:
        return exc
    eps = float(found.group(1))
    part = (f"its {share:.0%} for the first releases (the domain and counts), ε = {eps:.2g}," if share < 0.11
            else f"the {share:.0%} of it that the released tables may bring the total to, ε = {eps:.2g},"
            if share < 0.999 else "the whole of it, which DP-SGD must fit in after the releases,")
    why = ("is already spent by the releases before" if "already spend" in str(exc)
           else "is less than the accountant can certify with any noise (σ up to 1e6) at this δ")
    return SynthError(f"epsilon {epsilon:g} is too small: {part} {why}; give a larger epsilon")
