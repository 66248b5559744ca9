"""Hostile inputs: each either works (and its CSV passes the metadata's checks) or ends in one
line naming the problem, exit code 2, no traceback, no output. bench/dev/fuzz.py runs the same
cases by the ten thousand; the cases below it are what earlier fuzzing found."""

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from bench.dev.fuzz_runs import run_case, run_evaluate_case
from bench.dev.fuzzing import Case, cases, evaluate_cases
from tests.helpers.cli import run


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=cases())
def test_hostile_inputs_work_or_end_in_one_line(case, tmp_path_factory):
    outcome = run_case(case, tmp_path_factory.mktemp("case"))
    assert outcome.kind != "failed", (outcome.detail, case.what, case.fit_args, case.sample_args)


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=cases(damage=False))
def test_well_formed_tables_fit_and_sample(case, tmp_path_factory):
    outcome = run_case(case, tmp_path_factory.mktemp("case"))
    assert outcome.kind != "failed", outcome.detail


def _table(n: int = 30) -> tuple[bytes, dict]:
    df = pd.DataFrame({"pid": range(n), "arm": ["a", "b"] * (n // 2), "x": [float(i) for i in range(n)]})
    meta = {"tables": {"t": {"columns": {
        "pid": {"sdtype": "id"}, "arm": {"sdtype": "categorical", "range_values": ["a", "b"]},
        "x": {"sdtype": "numerical", "range_min": 0, "range_max": n}}}}}
    return df.to_csv(index=False).encode(), meta


@pytest.mark.parametrize("found", ["label_only", "empty_poisson_batches", "tiny_epsilon", "huge_n",
                                   "table_not_object", "evaluate_text_in_number", "one_cell_column",
                                   "huge_public_n", "evaluate_nothing_to_predict_from", "evaluate_few_rows",
                                   "evaluate_visits_without_numbers", "evaluate_categories_only"])
def test_what_fuzzing_found(found, tmp_path):
    csv, meta = _table()
    fit, rows = ["--label", "arm"], ["-n", "5"]
    if found == "label_only":  # pretraining had no table to match: a torch error
        meta["tables"]["t"]["columns"].pop("x")
        expect = "no column to synthesize besides the label 'arm'"
    elif found == "empty_poisson_batches":  # an empty batch reached the generator's reshape
        fit += ["--batch-size", "1"]
        expect = None
    elif found == "tiny_epsilon":  # σ calibration's ValueError
        fit += ["--epsilon", "1e-300"]
        expect = "is too small"
    elif found == "huge_n":  # ran for ever
        rows = ["-n", str(10**13)]
        expect = "more than synth writes in one call"
    elif found == "one_cell_column":  # one value, never missing: the batched tables read past the encoded row
        csv = pd.DataFrame({"pid": range(30), "arm": ["a", "b"] * 15, "x": "v"}).to_csv(index=False).encode()
        meta["tables"]["t"]["columns"]["x"] = {"sdtype": "categorical", "range_values": ["v"],
                                               "range_is_nullable": False}
        expect = None
    elif found == "huge_public_n":  # the default batch grew with the stated N: a 53 GB allocation
        meta["synth_patients"] = 10**12
        expect = "synth_patients must be a whole number of patients from 2 to 10^9"
    elif found.startswith("evaluate_") and found != "evaluate_text_in_number":
        if found == "evaluate_visits_without_numbers":  # the trajectories plot had no rows: plotly's ValueError
            meta = {"tables": {"t": {"sequence_key": "pid", "sequence_index": "day", "columns": {
                "pid": {"sdtype": "id"}, "day": {"sdtype": "numerical", "range_min": 0, "range_max": 100},
                "arm": {"sdtype": "categorical", "range_values": ["a", "b"]}}}},
                "synth_sequence": {"static_columns": ["arm"]}}
            csv = pd.DataFrame({"pid": [i // 2 for i in range(30)], "day": [30 * (i % 2) for i in range(30)],
                                "arm": [["a", "b"][i // 2 % 2] for i in range(30)]}).to_csv(index=False).encode()
        elif found == "evaluate_categories_only":  # one-hot of 4+ values went sparse: detection's boosting refused it
            meta["tables"]["t"]["columns"]["x"] = {"sdtype": "categorical", "range_values": list("abcdef")}
            csv = pd.DataFrame({"pid": range(30), "arm": ["a", "b"] * 15,
                                "x": list("abcdef") * 5}).to_csv(index=False).encode()
        elif found == "evaluate_nothing_to_predict_from":  # sklearn: an array with 0 features
            meta["tables"]["t"]["columns"].pop("x")
            csv = pd.DataFrame({"pid": range(30), "arm": ["a", "b"] * 15}).to_csv(index=False).encode()
        else:  # 12 synthetic rows: the MLP's early-stopping split had fewer rows than classes
            csv = b"\n".join(csv.split(b"\n")[:13]) + b"\n"
        for name in ("real.csv", "syn.csv"):
            (tmp_path / name).write_bytes(csv)
        (tmp_path / "meta.json").write_text(json.dumps(meta))
        r = run("evaluate", "--real", tmp_path / "real.csv", "--synthetic", tmp_path / "syn.csv", "-m",
                tmp_path / "meta.json", "-o", tmp_path / "r.html", "--target", "arm")
        if found == "evaluate_nothing_to_predict_from":
            assert r.exit_code == 2 and "has no column besides 'arm' to predict it from" in r.stderr, r.stderr
        else:
            assert r.exit_code == 0 and (tmp_path / "r.html").is_file(), r.stderr
        return
    elif found == "table_not_object":  # AttributeError in the metadata reader
        meta["tables"]["t"] = []
        expect = "table 't' should be a JSON object"
    else:
        (tmp_path / "real.csv").write_bytes(csv)
        (tmp_path / "syn.csv").write_bytes(csv.replace(b",0.0\n", b",old\n"))
        (tmp_path / "meta.json").write_text(json.dumps(meta))
        r = run("evaluate", "--real", tmp_path / "real.csv", "--synthetic", tmp_path / "syn.csv", "-m",
                tmp_path / "meta.json", "-o", tmp_path / "r.html")
        assert r.exit_code == 2 and "column 'x' of the synthetic data is numerical, but some" in r.stderr
        assert not (tmp_path / "r.html").exists()
        return
    outcome = run_case(Case(csv, json.dumps(meta).encode(), fit, rows), tmp_path)
    if expect is None:
        assert outcome.kind == "worked", outcome.detail
    else:
        assert outcome.kind == "rejected" and expect in outcome.detail, outcome.detail


def test_option_parser_errors_are_one_line(tmp_path):
    for args, expect in [(["fit", "x.csv", "-m", "m.json", "-o", "o", "--seed", "x"], "Invalid value for '--seed'"),
                         (["fit", "x.csv", "-m", "m.json", "-o", "o", "--bogus"], "No such option: --bogus"),
                         (["sample", "m.synth", "-o", "x.csv"], "Missing option '-n'")]:
        r = run(*args)
        assert r.exit_code == 2 and expect in r.stderr, r.stderr
        assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error:")


def test_a_bug_prints_one_line_and_exit_1(tmp_path, monkeypatch, trial_csv, meta_file):
    import synth.cli

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(synth.cli.fit_command, "_fit", broken)  # the fit command's own module
    r = run("fit", trial_csv, "-m", meta_file, "-o", tmp_path / "m.synth")
    assert r.exit_code == 1 and "internal error (ZeroDivisionError)" in r.stderr
    assert "boom" not in r.stderr  # an exception's text may quote the data: --debug shows it
    assert "Traceback" not in r.output and r.stderr.strip().count("\n") == 0
    r = run("--debug", "fit", trial_csv, "-m", meta_file, "-o", tmp_path / "m.synth")
    assert isinstance(r.exception, ZeroDivisionError)


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=evaluate_cases())
def test_evaluate_on_a_foreign_synthetic_csv_works_or_ends_in_one_line(case, tmp_path_factory):
    outcome = run_evaluate_case(case, tmp_path_factory.mktemp("case"))
    assert outcome.kind != "failed", (outcome.detail, case.what, case.args)
