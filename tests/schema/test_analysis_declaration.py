"""The metadata's ``synth_analysis``: parsed once into ``Metadata.analysis``, every mistake one line."""

from __future__ import annotations

import copy
import json

import pytest

from synth import Metadata, SynthError
from synth.schema.analysis import AnalysisDeclaration, TimeToEvent
from tests.conftest import TRIAL_META
from tests.helpers.visits import SEQ_META

EXTRA_COLUMNS = {
    "response": {"sdtype": "boolean", "range_is_nullable": False},
    "score": {"sdtype": "numerical", "range_min": 0, "range_max": 100, "range_is_nullable": False},
    "futime": {"sdtype": "numerical", "range_min": 0, "range_max": 3000, "range_is_nullable": False},
    "status": {"sdtype": "categorical", "range_values": [0, 1], "range_is_nullable": False},
    "grade": {"sdtype": "categorical", "range_values": [1, 2, 3], "range_is_nullable": False},
    "note": {"sdtype": "pii"},
}
DECLARED = {"arm": "arm", "outcomes": ["response", "score"], "covariates": ["age", "sex"],
            "time_to_event": [{"time": "futime", "event": "status"}]}


def trial_meta(analysis=None, **columns) -> dict:
    m = copy.deepcopy(TRIAL_META)
    cols = m["tables"]["trial"]["columns"]
    cols.update(copy.deepcopy(EXTRA_COLUMNS))
    for name, spec in columns.items():
        cols[name] = spec
    if analysis is not None:
        m["synth_analysis"] = analysis
    return m


def declared(**changes) -> dict:
    spec = copy.deepcopy(DECLARED)
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


def test_happy_path_is_parsed_once_into_a_frozen_declaration():
    meta = Metadata.load(trial_meta(DECLARED))
    assert meta.analysis == AnalysisDeclaration("arm", ("response", "score"), ("age", "sex"),
                                                (TimeToEvent("futime", "status"),))
    assert meta.analysis.columns() == ["arm", "response", "score", "age", "sex", "futime", "status"]
    assert meta.analysis.to_dict() == DECLARED
    with pytest.raises(AttributeError):
        meta.analysis.arm = "sex"  # frozen


def test_absent_declaration_is_none_and_optional_keys_may_be_left_out():
    assert Metadata.load(trial_meta()).analysis is None
    meta = Metadata.load(trial_meta({"arm": "smoker", "outcomes": ["score"]}))  # a boolean arm
    assert meta.analysis == AnalysisDeclaration("smoker", ("score",))


def test_an_outcome_may_also_be_the_event_of_a_time_to_event():
    meta = Metadata.load(trial_meta(declared(outcomes=["status"])))
    assert meta.analysis.outcomes == ("status",) and meta.analysis.time_to_event[0].event == "status"
    with pytest.raises(SynthError, match="column 'status' is named twice"):
        Metadata.load(trial_meta(declared(outcomes=["status", "status"])))


def test_outcomes_may_be_empty_with_a_time_to_event():
    meta = Metadata.load(trial_meta(declared(outcomes=[], covariates=None)))
    assert meta.analysis.outcomes == () and meta.analysis.time_to_event == (TimeToEvent("futime", "status"),)


def test_declaration_travels_verbatim_with_the_metadata_and_the_model_files_public_part(tmp_path):
    meta = Metadata.load(trial_meta(DECLARED))
    path = tmp_path / "meta.json"
    meta.save(path)
    assert json.loads(path.read_text())["synth_analysis"] == DECLARED
    assert Metadata.load(path).analysis == meta.analysis
    assert Metadata.from_dict(meta.public_dict()).analysis == meta.analysis  # what a model file stores
    assert copy.deepcopy(meta).analysis == meta.analysis


@pytest.mark.parametrize("spec,message", [
    ("arm", "synth_analysis must be an object"),
    (declared(primary="score"), "synth_analysis: unknown key 'primary'; the keys are arm, outcomes"),
    ({"outcomes": ["score"]}, "synth_analysis needs an \"arm\""),
    ({"arm": "arm"}, "synth_analysis needs \"outcomes\""),
    (declared(outcomes=[], time_to_event=None), "outcomes is empty and no time_to_event is given"),
    (declared(outcomes="score"), "synth_analysis.outcomes must be a list of column names"),
    (declared(arm=3), "synth_analysis arm must name a column"),
    (declared(arm="arms"), "synth_analysis arm 'arms' is not one of the columns \\(did you mean 'arm'\\?\\)"),
    (declared(outcomes=["scroe"]), "outcome 'scroe' is not one of the columns \\(did you mean 'score'\\?\\)"),
    (declared(covariates=["agee"]), "covariate 'agee' is not one of the columns \\(did you mean 'age'\\?\\)"),
    (declared(time_to_event=[{"time": "futim", "event": "status"}]), "time_to_event time 'futim' is not one of"),
    (declared(time_to_event={"time": "futime", "event": "status"}), "time_to_event must be a list"),
    (declared(time_to_event=[{"time": "futime"}]), "time_to_event entries must be"),
    (declared(arm="weight"), "arm 'weight' is numerical; the arm must be categorical or boolean"),
    (declared(outcomes=["pid"]), "outcome 'pid' is an id column"),
    (declared(outcomes=["note"]), "outcome 'note' is a pii column"),
    (declared(outcomes=["arm"]), "column 'arm' is named twice \\(as arm and as outcome\\)"),
    (declared(covariates=["score"]), "column 'score' is named twice"),
    (declared(outcomes=["grade"]), "outcome 'grade' must be binary: 2 range_values"),
    (declared(outcomes=["visit"]), "outcome 'visit' is datetime; an outcome must be numerical, boolean or binary"),
    (declared(covariates=["visit"]), "covariate 'visit' is datetime; a covariate must be numerical"),
    (declared(time_to_event=[{"time": "visit", "event": "status"}]), "time 'visit' is datetime; it must be numer"),
    (declared(outcomes=["response"], time_to_event=[{"time": "futime", "event": "score"}]),
     "event 'score' is numerical; it must be boolean"),
    (declared(time_to_event=[{"time": "futime", "event": "grade"}]), "event 'grade' must be binary"),
])
def test_bad_declarations(spec, message):
    with pytest.raises(SynthError, match=message):
        Metadata.load(trial_meta(spec))


@pytest.mark.parametrize("column,spec,message", [
    ("arm", {"sdtype": "categorical", "range_values": ["drug", "placebo"], "range_public": False},
     "arm 'arm' has no public values: list the arms as its range_values \\(the arm's values must be public\\)"),
    ("arm", {"sdtype": "categorical"}, "arm 'arm' has no public values"),
    ("arm", {"sdtype": "categorical", "range_values": ["drug"]}, "arm 'arm' needs at least 2 values"),
    ("score", {"sdtype": "numerical"}, "outcome 'score' needs a public range_min and range_max"),
    ("score", {"sdtype": "numerical", "range_min": 0, "range_max": 100, "range_public": False},
     "outcome 'score' needs a public range_min and range_max"),
    ("futime", {"sdtype": "numerical", "range_min": 0}, "time_to_event time 'futime' needs a public range_min"),
    ("response", {"sdtype": "categorical", "range_values": ["n", "y"], "range_public": False},
     "outcome 'response' has no public values"),
])
def test_domains_the_analysis_needs_must_be_public(column, spec, message):
    with pytest.raises(SynthError, match=message):
        Metadata.load(trial_meta(DECLARED, **{column: spec}))


def test_errors_are_one_line():
    with pytest.raises(SynthError) as info:
        Metadata.load(trial_meta(declared(arm="arms")))
    assert "\n" not in str(info.value)


def _seq(analysis: dict, static=("arm", "age")) -> dict:
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"]["static_columns"] = list(static)
    m["tables"]["visits"]["columns"]["resp"] = {"sdtype": "boolean", "range_is_nullable": False}
    m["synth_analysis"] = analysis
    return m


def test_visit_sequences_need_static_columns():
    meta = Metadata.load(_seq({"arm": "arm", "outcomes": ["resp"]}, static=("arm", "age", "resp")))
    assert meta.analysis.outcomes == ("resp",)
    with pytest.raises(SynthError, match="outcome 'lab' must be a static column \\(listed in synth_sequence"):
        Metadata.load(_seq({"arm": "arm", "outcomes": ["lab"]}))
    with pytest.raises(SynthError, match="covariate 'stage' must be a static column"):
        Metadata.load(_seq({"arm": "arm", "outcomes": ["age"], "covariates": ["stage"]}))
    with pytest.raises(SynthError, match="arm 'arm' must be a static column"):
        Metadata.load(_seq({"arm": "arm", "outcomes": ["age"]}, static=("age",)))
