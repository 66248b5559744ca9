"""The release boundary: every module that reads real data during a fit, and nothing else.

Each function here reads the patients' rows only to make a DP release recorded in the ledger
(the patient count, the domain's bounds and categories, the tables, pair selection, the sums by
arm) or to check them against public metadata (errors name a column, never a value or a count);
what leaves it is public metadata and those releases. DP-SGD (``synth.models``) is the one
other reader. ``review.py`` is the data holder's own report (``synth metadata review``), not a
release: it names columns and rough facts, never a value or an exact count.

The guarantee is void if anything downstream (encode's decoding, models, sampling, io, eval)
reads the raw frame, or if a value read here leaves it other than through a ledgered mechanism.
"""
