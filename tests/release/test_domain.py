"""The domain is public metadata plus ledger-recorded DP releases, and nothing else."""

import json

import numpy as np
import pytest

from synth.privacy.domain import Domain
from synth.release.domain import build_domain
from synth.errors import SynthError, SynthWarning
from synth.schema.metadata import Metadata
from synth.privacy.ledger import Ledger, compose_epsilon
from synth.schema.validate import coerce_frame
from tests.conftest import TRIAL_META, lopsided_trial, make_trial


def _domain(df, meta, label="arm", epsilon=1.0):
    ledger = Ledger(epsilon, 1e-5, len(df))
    dom = build_domain(coerce_frame(df, meta), meta, label, ledger, np.random.default_rng(0))
    return dom, ledger


def test_with_public_metadata_only_the_label_counts_depend_on_data():
    meta = Metadata.load(TRIAL_META)
    a, led_a = _domain(make_trial(seed=1), meta)
    b, led_b = _domain(make_trial(n=300, seed=2), meta)
    assert [m.name for m in led_a.mechanisms] == ["label_counts:arm"]
    da, db = a.to_dict(), b.to_dict()
    assert da.pop("label_proportions") != db.pop("label_proportions")  # the one DP release …
    assert da.pop("label_counts") != db.pop("label_counts")  # … kept as released (unclipped), with its σ
    assert da["label_sigma"] == led_a.mechanisms[0].noise_multiplier > 0
    assert da == db  # everything else is public


def test_every_private_column_has_its_release_in_the_ledger():
    meta = Metadata.load(TRIAL_META)
    for col in ("age", "sex", "visit"):
        meta.columns[col]["range_public"] = False
    dom, ledger = _domain(make_trial(n=3000), meta, epsilon=3.0)
    names = [m.name for m in ledger.mechanisms]
    assert names == ["bounds:age", "categories:sex", "bounds:visit", "label_counts:arm"]
    sources = {c.name: c.source for c in dom.columns}
    assert sources == {"age": "dp", "weight": "public", "sex": "dp", "smoker": "public", "visit": "dp"}
    share = compose_epsilon(ledger.history(), 0.1 * ledger.accountant_delta)
    assert 0.1 * 3.0 * 0.99 <= share <= 0.1 * 3.0  # the preprocessing share, at its share of δ
    assert ledger.epsilon() < share  # at the whole δ the same releases cost less
    assert ledger.delta_threshold == 0.1 * ledger.delta


def test_no_privacy_run_uses_exact_values_and_says_so():
    meta = Metadata.load(TRIAL_META)
    meta.columns["age"]["range_public"] = False
    df = make_trial()
    dom, _ = _domain(df, meta, epsilon=float("inf"))
    age = next(c for c in dom.columns if c.name == "age")
    assert (age.lo, age.hi) == (df["age"].min(), df["age"].max()) and age.source == "exact (no privacy)"


def test_a_log_scale_without_public_bounds_fails_before_any_release():
    meta = Metadata.load(TRIAL_META)
    meta.columns["weight"].update(synth_scale="log", range_public=False)  # bounds would be DP: no log scale
    ledger = Ledger(1.0, 1e-5, 200)
    with pytest.raises(SynthError, match="'weight' synth_scale log needs a public range_min > 0"):
        build_domain(coerce_frame(make_trial(), meta), meta, "arm", ledger, np.random.default_rng(0))
    assert ledger.mechanisms == []


def test_the_scale_travels_in_the_domain_dict():
    meta = Metadata.load(TRIAL_META)
    meta.columns["weight"]["synth_scale"] = "log"
    dom, _ = _domain(make_trial(), meta)
    again = Domain.from_dict(json.loads(json.dumps(dom.to_dict())))  # as in the model file
    assert {c.name: c.scale for c in again.columns} == {"age": "linear", "weight": "log", "visit": "linear",
                                                         "sex": "linear", "smoker": "linear"}


def test_every_column_dp_cannot_release_is_named_in_one_error():
    meta = Metadata.load(TRIAL_META)
    for col in ("age", "weight", "sex"):  # private, and 40 patients at ε = 0.5 are far too few
        meta.columns[col]["range_public"] = False
    ledger = Ledger(0.5, 1e-5, 40)
    with pytest.raises(SynthError) as err:
        build_domain(coerce_frame(make_trial(n=40), meta), meta, "arm", ledger, np.random.default_rng(0))
    assert str(err.value) == ("columns 'age', 'weight': too few patients to estimate their bounds under DP; give "
                              "range_min/range_max in the metadata; column 'sex': no category is held by enough "
                              "patients to be released under DP; list the categories as range_values in the metadata")
    assert [m.name for m in ledger.mechanisms] == ["bounds:age", "bounds:weight", "categories:sex"]  # all charged


def test_a_label_dp_released_with_one_value_is_a_user_error():
    meta = Metadata.load(TRIAL_META)
    meta.columns["arm"]["range_public"] = False
    with pytest.raises(SynthError, match=r"^the label \(--label, label=\): DP category discovery released 1 value of 'arm' \('drug'\); "
                                         "a label needs at least 2: list them as range_values in the metadata$"):
        _domain(lopsided_trial(), meta)
    dom, _ = _domain(lopsided_trial(rare=600), meta)  # both values clear the threshold: no error
    assert dom.label.categories == ["drug", "placebo"]


def test_a_column_dp_released_with_one_category_is_warned_about():
    meta = Metadata.load(TRIAL_META)
    meta.columns["sex"]["range_public"] = False
    with pytest.warns(SynthWarning, match="column 'sex'"):
        dom, _ = _domain(lopsided_trial(), meta)
    assert dom.release_warnings() == ["column 'sex': DP category discovery released only 'f', so every other value "
                                      "is written as missing; list its categories as range_values in the metadata"]
    assert _domain(lopsided_trial(rare=600), meta)[0].release_warnings() == []
    assert _domain(lopsided_trial(), Metadata.load(TRIAL_META))[0].release_warnings() == []  # public: nothing to say
