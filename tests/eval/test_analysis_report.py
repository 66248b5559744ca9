"""The analysis section of ``evaluate``: the JSON block, the HTML forest plot and table, the CLI flags."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.eval import evaluate
from synth.notebook import analysis_frame
from tests.eval.test_analysis import META, trial
from tests.helpers.visits import SEQ_META, make_visits

SIDE_KEYS = {"estimate", "se", "ci_low", "ci_high", "p_value", "n", "left_out", "status", "message"}


@pytest.fixture(scope="module")
def report():
    real = trial(n=300)
    return evaluate(real, real.copy(), META, holdout=trial(n=60, seed=9))


def test_json_has_an_analysis_block(report, tmp_path):
    doc = json.loads(report.to_json(tmp_path / "r.json").read_text())
    block = doc["analysis"]
    assert {"source", "arm", "reference", "levels", "covariates", "encoding", "effects", "sign_agreement",
            "significance_agreement", "mean_ci_overlap", "mean_standardized_difference", "problems",
            "notes"} <= set(block)
    assert (block["source"], block["arm"], block["reference"]) == ("metadata", "arm", "placebo")
    effect = block["effects"][0]
    assert {"outcome", "event", "label", "kind", "model", "scale", "level", "reference", "real", "synthetic",
            "ci_overlap", "standardized_difference", "sign_agrees", "significance_agrees"} <= set(effect)
    assert set(effect["real"]) == SIDE_KEYS and effect["ci_overlap"] == pytest.approx(1.0)
    assert block["effects"][2]["event"] == "status" and block["effects"][2]["outcome"] == "futime"
    assert doc["setup"]["analysis"] == META["synth_analysis"]
    metrics = {row["metric"] for row in doc["summary"]}
    assert {"Arm effects: same sign", "Arm effects: 95% CI overlap (Karr et al. 2006)"} <= metrics


def test_html_has_the_forest_plot_and_the_table(report, tmp_path):
    page = report.to_html(tmp_path / "r.html")
    assert '<h2 id="analysis">' in page and "Karr et al. 2006" in page
    fig = report.figures["analysis"]
    assert [t.name for t in fig.data] == ["real", "synthetic"] * 3
    assert "futime → status: drug vs placebo (log hazard ratio)" in [a.text for a in fig.layout.annotations]
    table = report.analysis()
    assert list(table["outcome"]) == ["resp", "score", "futime → status"] and table["same sign"].all()
    assert "Trial analysis" in report._repr_html_()


def test_a_failed_fit_becomes_a_warning_and_an_annotation():
    real = trial(n=200)
    rep = evaluate(real, real.assign(status=0), META, holdout=trial(n=60, seed=9))
    assert any(w.startswith("analysis: futime → status") and "no event in the synthetic data" in w
               for w in rep.results["warnings"])
    texts = [a.text for a in rep.figures["analysis"].layout.annotations]
    assert any(t.startswith("synthetic: no event") for t in texts)
    assert analysis_frame(rep.results["analysis"])["status"].tolist()[-1] == "failed"


def test_no_declaration_no_analysis_section():
    meta = copy.deepcopy(META)
    del meta["synth_analysis"]
    real = trial(n=120)
    rep = evaluate(real, real, meta, holdout=trial(n=40, seed=9))
    assert "analysis" not in rep.results and "analysis" not in rep.figures and rep.analysis().empty


def test_visit_sequences_are_analysed_one_row_per_patient():
    meta = copy.deepcopy(SEQ_META)
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["age"]}
    real = make_visits()
    rep = evaluate(real, real, meta)
    effect = rep.results["analysis"]["effects"][0]
    assert effect["real"]["n"] == real["pid"].nunique() and effect["ci_overlap"] == pytest.approx(1.0)


def test_cli_flags_replace_the_declaration(tmp_path):
    real = trial(n=200)
    flipped = real.assign(arm=np.where(real["arm"] == "drug", "placebo", "drug"))
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(META))
    paths = {}
    for name, df in {"real": real, "syn": flipped, "hold": trial(n=60, seed=9)}.items():
        paths[name] = tmp_path / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    base = ["evaluate", "--real", str(paths["real"]), "--synthetic", str(paths["syn"]), "-m", str(meta),
            "--holdout", str(paths["hold"]), "-o", str(tmp_path / "r.html")]
    res = CliRunner().invoke(app, [*base, "--json", str(tmp_path / "r.json"), "--arm", "arm", "--outcome", "score",
                                   "--outcome", "resp", "--covariate", "age"])
    assert res.exit_code == 0, res.output
    block = json.loads((tmp_path / "r.json").read_text())["analysis"]
    assert block["source"] == "options" and block["covariates"] == ["age"]
    assert [e["outcome"] for e in block["effects"]] == ["score", "resp"]
    assert block["sign_agreement"] == 0.0 and all(e["ci_overlap"] <= 0 for e in block["effects"])
    assert "Arm effects: same sign" in res.output
    bad = CliRunner().invoke(app, [*base, "--outcome", "score"])
    assert bad.exit_code == 2 and "--arm: give the arm column" in bad.output
    bad = CliRunner().invoke(app, [*base, "--arm", "arm", "--outcome", "scroe"])
    assert bad.exit_code == 2 and "did you mean 'score'" in bad.output
    assert pd.read_csv(paths["real"]).shape == real.shape


def test_a_separated_fit_is_drawn_without_its_interval():
    from synth.eval.plots import forest_plot

    real = trial(n=200)
    syn = real.copy()
    syn.loc[syn["arm"] == "drug", "resp"] = True
    rep = evaluate(real, syn, META, holdout=trial(n=60, seed=9))
    fig = forest_plot(rep.results["analysis"]["effects"][:1])
    real_trace, syn_trace = fig.data
    assert real_trace.error_x.visible is not False and syn_trace.error_x.visible is False
    assert syn_trace.marker.symbol == "x" and any("separation" in w for w in rep.results["warnings"])
