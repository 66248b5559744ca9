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


@pytest.mark.slow
def test_pbcseq_visits_fit_sample_and_evaluate(tmp_path):
    """The issue-3 commands on the bundled visits, then `synth evaluate` on the result."""
    run = CliRunner().invoke
    model, csv = tmp_path / "pbc.synth", tmp_path / "visits.csv"
    r = run(app, ["fit", str(DATA / "pbcseq.csv"), "--metadata", str(DATA / "pbcseq.json"), "--label", "trt",
                  "--epsilon", "1", "-o", str(model)])
    assert r.exit_code == 0, r.output
    assert run(app, ["sample", str(model), "-n", "300", "-o", str(csv)]).exit_code == 0
    syn, real = pd.read_csv(csv), pd.read_csv(DATA / "pbcseq.csv")
    assert list(syn.columns) == list(real.columns) and syn["id"].nunique() == 300
    assert syn.groupby("id")["day"].apply(lambda s: s.is_monotonic_increasing).all()
    assert (syn["day"] <= syn["futime"]).all()  # the metadata names futime as follow_up_end
    assert (syn.groupby("id")["day"].min() == 0).all()  # and gives first_visit_at 0
    shown = " ".join(run(app, ["info", str(model)]).output.split())  # rich wraps lines
    assert "no visit after 'futime'; first visit at 0" in shown
    assert syn["bili"].between(0.1, 50).all() and syn["bili"].median() < 5  # log-scale bins over 0.1–50
    r = run(app, ["evaluate", "--real", str(DATA / "pbcseq.csv"), "--synthetic", str(csv), "-m",
                  str(DATA / "pbcseq.json"), "--target", "status", "-o", str(tmp_path / "r.html"),
                  "--json", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["formal_privacy"]["epsilon"] <= 1.0
    assert 0 <= report["sequences"]["visit_count_tvd"] <= 1
