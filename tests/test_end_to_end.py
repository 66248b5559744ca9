"""Slow: the README's main job on the bundled ACTG175 data, with default settings."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.eval import quality

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.mark.slow
def test_demo_fits_actg175_and_writes_a_useful_csv(tmp_path):
    r = CliRunner().invoke(app, ["demo", "--output-dir", str(tmp_path), "-n", "2000"])
    assert r.exit_code == 0, r.output
    syn = pd.read_csv(tmp_path / "synthetic.csv")
    real = pd.read_csv(DATA / "actg175.csv")
    assert list(syn.columns) == list(real.columns) and len(syn) == 2000
    sidecar = json.loads((tmp_path / "synthetic.csv.privacy.json").read_text())
    assert 0.99 <= sidecar["epsilon"] <= 1.0
    assert quality(real, syn, DATA / "actg175.json")["quality"] > 0.5
