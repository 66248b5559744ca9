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
