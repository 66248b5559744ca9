"""EvaluationReport's JSON is strict: no NaN/Infinity tokens a JSON parser outside Python rejects."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from synth.eval.report import EvaluationReport


def _strict(text: str):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def test_undefined_figures_are_written_as_null(tmp_path):
    results = {"utility": {"ratio": 0.9, "importance_rank_agreement": float("nan"),
                           "per_class": {np.int64(1): {"tstr": np.float64("nan"), "trtr": 0.8}},
                           "curve": np.array([np.inf, 0.5])},
               "sequences": {"lag1_real": {"bili": 0.8}, "lag1_synthetic": {"bili": 0.7}, "note": pd.NA}}
    path = EvaluationReport(results, {}).to_json(tmp_path / "r.json")
    doc = _strict(path.read_text())
    assert doc["utility"]["importance_rank_agreement"] is None
    assert doc["utility"]["per_class"]["1"] == {"tstr": None, "trtr": 0.8}
    assert doc["utility"]["curve"] == [None, 0.5]
    assert doc["sequences"]["note"] is None
    assert doc["utility"]["ratio"] == 0.9
    gap = [r["value"] for r in doc["summary"] if r["metric"].startswith("Lag-1")]
    assert gap == [pytest.approx(0.1)] and not math.isnan(gap[0])


def test_an_unknown_object_fails_loudly_rather_than_writing_bad_json(tmp_path):
    with pytest.raises(TypeError):
        EvaluationReport({"utility": {"model": object()}}, {}).to_json(tmp_path / "r.json")
    assert not (tmp_path / "r.json").exists()


def test_report_says_it_is_for_the_data_holder_only(tmp_path):
    report = EvaluationReport({"utility": {"ratio": 0.9}}, {})
    page = report.to_html(tmp_path / "r.html")
    assert 'class="owner"' in page and "FOR THE DATA HOLDER ONLY" in page
    assert page.index("FOR THE DATA HOLDER ONLY") < page.index("<h1>")  # above everything else
    doc = _strict(report.to_json(tmp_path / "r.json").read_text())
    assert doc["data_owner_only"] is True and "Do not share it" in doc["notice"]
    assert "FOR THE DATA HOLDER ONLY" in report._repr_html_()
