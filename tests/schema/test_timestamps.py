"""Datetimes of any unit (pandas 2 parses to ns, pandas 3 to us) give the same seconds since 1970."""

import numpy as np
import pandas as pd
import pytest

from synth.schema.metadata import Metadata
from synth.schema.timestamps import epoch_seconds, from_epoch_seconds
from synth.schema.validate import coerce_frame

DATES = ["2019-01-01", "2020-09-10 13:45:07", None]
EXPECTED = [1546300800.0, 1599745507.0, np.nan]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_every_unit_gives_the_same_seconds(unit):
    parsed = pd.Series(pd.to_datetime(DATES, format="ISO8601")).astype(f"datetime64[{unit}]")
    np.testing.assert_array_equal(epoch_seconds(parsed), EXPECTED)
    np.testing.assert_array_equal(epoch_seconds(pd.DatetimeIndex(parsed)), EXPECTED)


def test_timestamps_in_a_list_and_back():
    stamps = [pd.Timestamp("2019-01-01").as_unit("us"), pd.Timestamp("2020-09-10 13:45:07")]
    seconds = epoch_seconds(stamps)
    np.testing.assert_array_equal(seconds, EXPECTED[:2])
    assert list(from_epoch_seconds(seconds).strftime("%Y-%m-%d %H:%M:%S")) == ["2019-01-01 00:00:00",
                                                                             "2020-09-10 13:45:07"]


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_a_frame_whose_dates_are_already_parsed_in_either_unit_reads_the_same(unit):
    meta = Metadata.load({"METADATA_SPEC_VERSION": "V1", "tables": {"t": {"columns": {
        "d": {"sdtype": "datetime", "range_min": "2018-01-01", "range_max": "2022-12-31"},
        "x": {"sdtype": "numerical", "range_min": 0, "range_max": 1}}}}})
    frame = pd.DataFrame({"d": pd.Series(pd.to_datetime(DATES, format="ISO8601")).astype(f"datetime64[{unit}]"), "x": [0.1, 0.2, 0.3]})
    np.testing.assert_array_equal(coerce_frame(frame, meta)["d"].to_numpy(), EXPECTED)
