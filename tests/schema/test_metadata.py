import json

import pytest

from synth import Metadata, SynthError
from tests.conftest import TRIAL_META, make_trial


def test_reads_v1_and_legacy_single_table():
    v1 = Metadata.load(TRIAL_META)
    legacy = Metadata.load({**TRIAL_META["tables"]["trial"], "METADATA_SPEC_VERSION": "SINGLE_TABLE_V1"})
    assert v1.columns == legacy.columns and v1.primary_key == "pid"


def test_public_domain_queries(meta):
    assert meta.public_bounds("age") == (18.0, 90.0)
    assert meta.public_values("sex") == ["f", "m"]
    assert meta.public_values("smoker") == [False, True]  # public by its type
    lo, hi = meta.public_bounds("visit")
    assert hi - lo == pytest.approx((4 * 365) * 86400, rel=0.01)


def test_values_marked_private_are_not_public(meta):
    meta.columns["age"]["range_public"] = False
    meta.columns["sex"]["range_public"] = False
    assert meta.public_bounds("age") is None and meta.public_values("sex") is None
    assert meta.public_nullable("age") is None


@pytest.mark.parametrize("bad,message", [
    ({"columns": {"a": {"sdtype": "nope"}}}, "column 'a' needs an sdtype"),
    ({"columns": {}}, "non-empty 'columns'"),
    ({"columns": {"a": {"sdtype": "id"}}, "sequence_key": "b"}, "sequence_key 'b'"),
    ({"tables": {"x": {}, "y": {}}}, "exactly one table"),
])
def test_bad_metadata(bad, message):
    with pytest.raises(SynthError, match=message):
        Metadata.load(bad)


def test_bad_bounds(meta):
    meta.columns["age"]["range_min"] = 100
    with pytest.raises(SynthError, match="'age' needs range_min < range_max"):
        meta.public_bounds("age")


@pytest.mark.parametrize("column,spec,message", [
    ("weight", {"synth_scale": "log"}, "'weight' synth_scale log needs a public range_min > 0"),
    ("weight", {"synth_scale": "log", "range_min": 0}, "'weight' synth_scale log needs a public range_min > 0"),
    ("weight", {"synth_scale": "sqrt"}, "'weight' synth_scale must be one of linear, log"),
    ("sex", {"synth_scale": "log"}, "'sex' synth_scale log is for numerical columns only"),
])
def test_bad_scale(meta, column, spec, message):
    if spec.get("range_min") is None and column == "weight":
        meta.columns["weight"].pop("range_min", None)
    meta.columns[column].update(spec)
    with pytest.raises(SynthError, match=message):
        meta.scale(column)


def test_scale_is_dropped_for_sdv(meta):
    meta.columns["weight"]["synth_scale"] = "log"
    assert "synth_scale" not in meta.to_dict(strip_domain=True)["tables"]["trial"]["columns"]["weight"]


def test_infer_then_round_trip(trial, tmp_path):
    draft = Metadata.infer(trial, table_name="trial")
    assert draft.sdtype("pid") == "id" and draft.sdtype("visit") == "datetime"
    assert draft.sdtype("smoker") == "boolean" and draft.sdtype("weight") == "numerical"
    assert all(not draft.is_public(c) for c in draft.columns if draft.sdtype(c) != "id")
    draft.save(tmp_path / "m.json")
    assert Metadata.load(tmp_path / "m.json").columns == draft.columns


def test_infer_drafts_static_columns_for_visit_sequences():
    from tests.helpers.visits import make_visits

    meta = Metadata.infer(make_visits(), sequence_key="pid", sequence_index="day")
    assert meta.sequence_key == "pid" and meta.sequence_index == "day"
    assert meta.extra["synth_sequence"]["static_columns"] == ["arm", "age"]
    assert meta.columns["pid"] == {"sdtype": "id"}
    with pytest.raises(SynthError, match="--sequence-index: column 'when'"):
        Metadata.infer(make_visits(), sequence_key="pid", sequence_index="when")


def test_infer_lists_every_field_it_read_off_the_data_for_review(trial):
    from tests.helpers.visits import make_visits

    draft = Metadata.infer(trial, table_name="trial")
    assert draft.columns["weight"]["synth_review"] == ["sdtype", "computer_representation"]
    assert draft.columns["sex"]["synth_review"] == ["sdtype"]
    unreviewed = draft.unreviewed()
    assert "column 'weight': sdtype, computer_representation" in unreviewed and len(unreviewed) == len(trial.columns)
    visits = Metadata.infer(make_visits(), sequence_key="pid", sequence_index="day")
    assert "synth_sequence: static_columns" in visits.unreviewed()
    for spec in visits.columns.values():
        spec.pop("synth_review", None)
    visits.extra["synth_sequence"].pop("synth_review")
    assert visits.unreviewed() == []
    assert "synth_review" not in json.dumps(draft.to_dict(strip_domain=True))  # SDV's validator rejects it


def test_infer_drafts_an_integer_visit_index_as_numerical():
    from tests.helpers.visits import make_visits

    df = make_visits()
    df["visit_no"] = df.groupby("pid").cumcount()  # 0..4: few values, but a time, not a category
    meta = Metadata.infer(df, sequence_key="pid", sequence_index="visit_no")
    assert meta.columns["visit_no"]["sdtype"] == "numerical"
    assert meta.columns["visit_no"]["computer_representation"] == "Int64"


def test_fit_warns_naming_unreviewed_draft_fields():
    import warnings

    from synth import Synthesizer, SynthWarning
    from tests.conftest import FAST, TRIAL_META

    meta = Metadata.load(TRIAL_META)
    meta.columns["age"]["synth_review"] = ["sdtype"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Synthesizer(epsilon=1.0, **{**FAST, "pretrain_steps": 0}, batch_size=10**4).fit(make_trial(), meta)
    messages = [str(w.message) for w in caught if issubclass(w.category, SynthWarning)]
    assert any("not reviewed" in m and "column 'age': sdtype" in m for m in messages)
