"""Values outside a column's public range: clipped at fit (the guarantee), said once by column
name (never a value or how many), for tables and visit sequences."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from synth import Synthesizer, SynthWarning
from synth.schema.metadata import Metadata
from synth.schema.ranges import outside_public_ranges, warn_outside_ranges
from tests.conftest import FAST, TRIAL_META, make_trial
from tests.helpers.visits import SEQ_META, make_visits


def test_columns_beyond_their_public_range_are_named(meta):
    df = make_trial(120)
    assert outside_public_ranges(df, meta) == []
    df.loc[7, "age"] = 150  # range_max 90
    df.loc[9, "visit"] = "2030-05-01"  # a date after range_max 2022-12-31
    df.loc[11, "weight"] = np.nan  # missing is not outside
    assert outside_public_ranges(df, meta) == ["age", "visit"]


def test_a_private_range_is_not_checked(meta):
    spec = copy.deepcopy(TRIAL_META)
    spec["tables"]["trial"]["columns"]["age"]["range_public"] = False  # estimated under DP: clipping expected
    df = make_trial(120)
    df.loc[7, "age"] = 150
    assert outside_public_ranges(df, Metadata.load(spec)) == []


def test_the_warning_names_the_column_never_a_value_or_count(meta):
    df = make_trial(120)
    df.loc[[3, 5, 17], "age"] = [151, 163, 177]
    with pytest.warns(SynthWarning) as caught:
        warn_outside_ranges(df, meta, "'trial.csv'")
    (message,) = [str(w.message) for w in caught]
    assert "column 'age' of 'trial.csv' holds values outside its public range_min/range_max" in message
    assert "clips" in message
    for private in ("151", "163", "177", "3 ", "120"):
        assert private not in message


def test_fit_warns_once_and_clips(meta):
    df = make_trial(120)
    df.loc[[3, 5], "age"] = 150
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = Synthesizer(epsilon=float("inf"), label="arm", **FAST).fit(df, TRIAL_META)
    clipped = [str(w.message) for w in caught if "public range_min/range_max" in str(w.message)]
    assert len(clipped) == 1 and "'age'" in clipped[0] and "'weight'" not in clipped[0]
    assert s.sample(300, seed=0)["age"].max() <= 90


def test_visits_are_checked_at_every_visit():
    visits = make_visits(40)
    later = visits.groupby("pid").cumcount() == 1  # a second visit: not one build_domain reads
    visits.loc[later[later].index[0], "lab"] = 12.5  # range_max 10
    assert outside_public_ranges(visits, Metadata.load(SEQ_META)) == ["lab"]
