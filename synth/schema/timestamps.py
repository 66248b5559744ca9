"""Datetimes ↔ seconds since 1970, in one place, explicit about the unit.

pandas 2 parses dates to ``datetime64[ns]``; pandas 3 to ``datetime64[us]`` (and keeps other
units it is given). Reading a datetime's integer value without converting its unit first gives
microseconds where nanoseconds were assumed: every conversion goes through here instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["epoch_seconds", "from_epoch_seconds"]


def epoch_seconds(parsed: Any) -> np.ndarray:
    """Seconds since 1970 (float; NaN where NaT) of parsed datetimes of any unit: a Series, an
    index, an array or a list of Timestamps."""
    values = np.asarray(parsed)
    if values.dtype == object:
        values = pd.to_datetime(pd.Series(values.ravel())).to_numpy().reshape(values.shape)
    ns = values.astype("datetime64[ns]")
    return np.where(np.isnat(ns), np.nan, ns.astype("int64") / 1e9)


def from_epoch_seconds(seconds: np.ndarray) -> pd.DatetimeIndex:
    """Datetimes of whole-nanosecond-rounded seconds since 1970 (no NaN: mask those first)."""
    return pd.to_datetime(np.round(np.asarray(seconds, dtype=float) * 1e9).astype("int64"), unit="ns")
