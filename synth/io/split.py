"""``synth split``: set patients aside before the fit, so that ``synth evaluate --holdout`` is honest.

TSTR and the privacy-risk figures compare the synthetic data with real patients the generator
never saw. Split off after the fit, those patients were in the training data and the figures
are optimistic. :func:`split_csv` writes two CSVs from one: the holdout (a share of the
patients, drawn with a seed) and the rest, to fit on. With metadata naming the patient id
(``sequence_key`` for visits, else ``primary_key``) every patient's rows go to one file.

The rows are written as they are in the input (the text of each cell, not re-typed numbers),
with the same separator and encoding; with the metadata's ``synth_read`` ``drop_unlisted``, only its columns.
Nothing here is released: both files stay with the data holder, and messages name no count.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from synth.errors import SynthError
from synth.atomic import atomic_path
from synth.schema.metadata import Metadata
from synth.schema.reading import ReadOptions
from synth.schema.validate import category_key, check_columns, listed_only, read_csv

__all__ = ["split_patients", "split_csv"]


def split_patients(ids: pd.Series, test: float, seed: int) -> np.ndarray:
    """A boolean mask of the rows whose patient is in the holdout: round(test · patients) of the
    patients (at least one, and one left), drawn with ``seed`` from the ids in order of first
    appearance. Same ids and seed, same split."""
    if not 0 < test < 1:
        raise SynthError(f"test must be a share of the patients between 0 and 1 (0.2: a fifth), got {test}")
    keys = ids.map(category_key)  # 7, 7.0 and "7" are one patient
    patients = pd.unique(keys)
    if len(patients) < 2:
        raise SynthError("the data has fewer than 2 patients: nothing to split")
    k = min(max(1, round(test * len(patients))), len(patients) - 1)
    chosen = np.random.default_rng(seed).choice(len(patients), size=k, replace=False)
    return keys.isin(set(patients[chosen].tolist())).to_numpy()


def split_csv(data: str | Path, test: float, train_out: str | Path, holdout_out: str | Path,
              metadata: str | Path | Metadata | None = None, seed: int = 0) -> str | None:
    """Write the holdout patients' rows to ``holdout_out`` and the others' to ``train_out``.

    Returns the patient id column the split kept whole, or None (no metadata, or none naming an
    id: one row is one patient).
    """
    data, train_out, holdout_out = Path(data), Path(train_out), Path(holdout_out)
    paths = {p.resolve() for p in (data, train_out, holdout_out)}
    if len(paths) < 3:
        raise SynthError("the input CSV, the output (-o) and the holdout (--holdout) must be three different files")
    meta = Metadata.load(metadata) if metadata is not None else None
    read = meta.read_options() if meta is not None else ReadOptions()
    df = read_csv(str(data), read)  # one-line errors for a missing, empty or malformed file
    key = None
    if meta is not None:
        check_columns(df.rename(columns=str), meta, f"'{data}'")
        key = meta.sequence_key or meta.primary_key
    if key is not None and df[key].isna().any():
        raise SynthError(f"'{data}': id column '{key}' is missing in some rows; give every row its patient's id")
    ids = df[key] if key is not None else pd.Series(np.arange(len(df)))
    held = split_patients(ids.reset_index(drop=True), test, seed)
    text = pd.read_csv(data, dtype=str, keep_default_na=False, na_filter=False, low_memory=False,
                       encoding=read.encoding, sep=read.sep)
    if meta is not None:  # synth_read's drop_unlisted: both files keep only the metadata's columns
        text = listed_only(text, meta)
    if len(text) != len(df):  # the same parser both times: a mismatch is a bug, not the user's file
        raise RuntimeError("the CSV read differently as text and as values")
    for out, rows in ((holdout_out, held), (train_out, ~held)):
        with atomic_path(out) as tmp:  # read back as the input was: same separator and encoding
            text[rows].to_csv(tmp, index=False, sep=read.sep, encoding=read.encoding or "utf-8")
    return key
