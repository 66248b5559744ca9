"""The metadata resolved once (synth.schema.columns) through the sdtype registry (synth.schema.sdtypes)."""

import pytest

from synth.errors import SynthError
from synth.schema.columns import ColumnSpec, resolve_columns
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import MODELLED, REGISTRY, SDTYPES, kind_of

META = {"columns": {
    "id": {"sdtype": "id"},
    "age": {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 18, "range_max": 90,
            "range_is_nullable": False},
    "weight": {"sdtype": "numerical", "range_min": 40, "range_max": 150, "range_public": False},
    "bili": {"sdtype": "numerical", "range_min": 0.1, "range_max": 30, "synth_scale": "log"},
    "visit": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2020-01-01",
              "range_max": "2020-01-02"},
    "arm": {"sdtype": "categorical", "range_values": ["A", "B"]},
    "site": {"sdtype": "categorical", "range_values": ["x", "y"], "range_public": False},
    "flag": {"sdtype": "boolean"},
    "note": {"sdtype": "pii"},
}}


def test_every_sdtype_has_one_kind_and_the_modelled_ones_a_kind():
    assert set(SDTYPES) == set(REGISTRY)
    assert set(MODELLED) == {s for s in SDTYPES if kind_of(s) is not None} == {
        "numerical", "categorical", "boolean", "datetime"}
    assert {s: kind_of(s) for s in ("datetime", "boolean", "pii")} == {
        "datetime": "numerical", "boolean": "categorical", "pii": None}


def test_resolution_keeps_public_values_only():
    schema = resolve_columns(Metadata.load(META))
    assert schema.names == list(META["columns"])
    assert schema["age"] == ColumnSpec("age", "numerical", (18.0, 90.0), None, False, integer=True)
    assert schema["weight"].bounds is None and schema["weight"].needs() == "bounds"  # copied from the data
    assert schema["bili"].scale == "log" and not schema["bili"].integer
    assert schema["visit"].bounds == (1577836800.0, 1577923200.0) and schema["visit"].kind == "numerical"
    assert schema["arm"].values == ("A", "B") and schema["arm"].needs() is None
    assert schema["site"].values is None and schema["site"].needs() == "categories"
    assert schema["flag"].values == (False, True)  # a boolean's domain is public by its type
    assert schema["note"].kind is None and schema["id"].kind is None
    assert schema.only(["arm", "age"]).names == ["arm", "age"]


def test_a_bad_scale_stops_the_resolution():
    meta = {"columns": {**META["columns"], "weight": {"sdtype": "numerical", "synth_scale": "log"}}}
    with pytest.raises(SynthError, match="'weight' synth_scale log needs a public range_min > 0"):
        resolve_columns(Metadata.load(meta))


def test_the_registry_says_which_values_a_type_has_and_which_bounds_are_dates():
    meta = Metadata.load({"columns": {"flag": {"sdtype": "boolean"}, "cat": {"sdtype": "categorical"},
                                      "day": {"sdtype": "datetime", "range_min": "1970-01-02", "range_max": "1970-01-03"}}})
    assert meta.public_values("flag") == [False, True] and meta.public_values("cat") is None
    assert meta.public_bounds("day") == (86400.0, 172800.0)


def test_each_sdtype_answers_exactly_one_single_type_question():
    from synth.schema.sdtypes import is_boolean, is_datetime, is_id, is_listed, is_number, is_pii

    asked = (is_number, is_datetime, is_listed, is_boolean, is_id, is_pii)
    answers = {s: [q.__name__ for q in asked if q(s)] for s in SDTYPES}
    assert answers == {"numerical": ["is_number"], "datetime": ["is_datetime"], "categorical": ["is_listed"],
                       "boolean": ["is_boolean"], "id": ["is_id"], "pii": ["is_pii"]}


def test_the_schema_carries_the_table_roles_and_a_part_of_it_too():
    from synth.schema.columns import as_schema

    meta = Metadata.from_dict({**META, "sequence_key": "id", "sequence_index": "visit",
                               "synth_sequence": {"static_columns": ["arm", "flag"]}})
    schema = resolve_columns(meta)
    assert (schema.sequence_key, schema.sequence_index, schema.static) == ("id", "visit", ("arm", "flag"))
    assert "arm" in schema and "nope" not in schema
    assert as_schema(schema) is schema and as_schema(meta) == schema
    assert resolve_columns(Metadata.from_dict({**META, "primary_key": "id"})).primary_key == "id"
    assert resolve_columns(Metadata.from_dict(META)).static is None  # no sequence: no static columns
    part = schema.only(["age", "arm"])
    assert (part.names, part.sequence_key, part.static) == (["age", "arm"], "id", ("arm", "flag"))  # roles kept


def test_listed_values_are_the_range_values_as_written_public_or_not():
    meta = Metadata.from_dict(META)
    assert meta.listed_values("site") == ["x", "y"] and meta.public_values("site") is None
    assert meta.listed_values("arm") == ["A", "B"] and meta.listed_values("flag") is None
