"""Datetimes of any unit (pandas 2 parses to ns, pandas 3 to us) give the same seconds since 1970."""

import numpy as np
import pandas as pd
import pytest
import torch

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


def _with_parsed_visits(unit: str, missing: bool = False):
    """The shared trial with its visit dates already parsed, in ``unit``; ``missing``: two NaT
    (and the column declared nullable)."""
    import copy

    from bench.dev.trial import TRIAL_META, make_trial

    written = make_trial(150)
    spec = copy.deepcopy(TRIAL_META)
    frame = written.copy()
    frame["visit"] = pd.to_datetime(written["visit"], format="%Y-%m-%d").astype(f"datetime64[{unit}]")
    assert str(frame["visit"].dtype) == f"datetime64[{unit}]"
    if missing:
        spec["tables"]["trial"]["columns"]["visit"]["range_is_nullable"] = True
        frame.loc[[3, 7], "visit"] = pd.NaT
        written.loc[[3, 7], "visit"] = None
    return written, frame, Metadata.load(spec)


def test_frames_of_microseconds_and_nanoseconds_round_trip_through_the_encoder_alike():
    """pandas 3 parses to microseconds, pandas 2 to nanoseconds: either frame encodes to the same
    numbers and decodes back to the dates as written."""
    from synth.encode.table import TableEncoder
    from synth.release.domain import build_domain
    from synth.privacy.ledger import Ledger

    encoded = {}
    for unit in ("us", "ns"):
        written, frame, meta = _with_parsed_visits(unit, missing=True)
        coerced = coerce_frame(frame, meta)
        domain = build_domain(coerced, meta, "arm", Ledger(8.0, 1e-5, len(coerced)), np.random.default_rng(0))
        encoder = TableEncoder(domain)
        encoded[unit] = encoder.encode(coerced)
        decoded = encoder.decode(encoded[unit])
        assert decoded["visit"].isna().tolist() == written["visit"].isna().tolist()
        assert decoded["visit"].dropna().tolist() == written["visit"].dropna().tolist()
    np.testing.assert_array_equal(encoded["us"], encoded["ns"])


def test_a_fit_on_either_unit_is_the_same_fit():
    """The same patients with their dates parsed in microseconds or nanoseconds: the same model
    (same research noise seed), whose samples write the dates in their format."""
    from synth import Synthesizer

    weights = {}
    for unit in ("us", "ns"):
        _, frame, meta = _with_parsed_visits(unit)
        s = Synthesizer(epsilon=4.0, label="arm", noise_seed=1, device="cpu", epochs=1, pretrain_steps=5,
                        g_hidden=16, d_hidden=16, noise_dim=4).fit(frame, meta)
        weights[unit] = s._state()["generator"].state_dict()
        dates = s.sample(50, seed=2)["visit"]
        assert pd.to_datetime(dates, format="%Y-%m-%d").between("2019-01-01", "2022-12-31").all()
    assert all(torch.equal(weights["us"][k], weights["ns"][k]) for k in weights["ns"])
