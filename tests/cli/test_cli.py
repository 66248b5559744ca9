"""The command line as a user meets it: files written, one-line errors, exit code 2."""

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import lopsided_trial
from tests.helpers.cli import run

FAST_ARGS = ["--epochs", "2"]


@pytest.fixture
def model(tmp_path, trial_csv, meta_file):
    path = tmp_path / "m.synth"
    r = run("fit", trial_csv, "--metadata", meta_file, "--label", "arm", "--epsilon", "1", "-o", path, *FAST_ARGS)
    assert r.exit_code == 0, r.output
    return path


def test_fit_sample_info(model, tmp_path):
    out = tmp_path / "syn.csv"
    r = run("sample", model, "-n", 250, "-o", out, "--seed", 7, "--condition", "arm=drug")
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert len(df) == 250 and set(df["arm"]) == {"drug"}
    sidecar = json.loads(out.with_name("syn.csv.privacy.json").read_text())
    assert sidecar["model_sha256"] and 0.99 <= sidecar["epsilon"] <= 1.0
    info = run("info", model, "--json")
    assert info.exit_code == 0
    details = json.loads(info.stdout)
    assert details["ledger"]["mechanisms"][-1]["name"] == "dp_sgd:discriminator"
    shown = run("info", model).stdout
    assert "privacy guarantee: (" in shown and "dp_sgd:discriminator" in shown and "label_counts:arm" in shown
    chosen = details["train"]["checkpoint"]  # under DP the epoch closest to the released tables is kept
    assert 0 <= chosen["epoch"] <= chosen["of"] == 2 and len(chosen["table_loss"]) == 3
    assert f"generator kept from epoch {chosen['epoch']} of 2" in shown
    tables = details["train"]["tables"]  # what the generator matched: ledger's table releases, plus refined ones
    released = sum(m["steps"] for m in details["ledger"]["mechanisms"] if m["name"].startswith("marginals:"))
    assert tables["released"] == released > 0
    assert f"generator matched {released} released tables" in shown


def test_fit_options_reach_training_and_cost_no_epsilon(tmp_path, trial_csv, meta_file):
    """The API's post-processing options on the command line: stored in the model, same ledger.
    N is stated as public here, so that both fits release the same mechanisms (a released N
    differs between fits, and with it the sample rate)."""
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "synth_patients": 120}))
    path, model = tmp_path / "o.synth", tmp_path / "default.synth"
    r = run("fit", trial_csv, "--metadata", meta_file, "--label", "arm", "--epsilon", "1", "-o", path, *FAST_ARGS,
            "--independence", "2.5", "--no-refine-groups", "--smooth-tables")
    assert r.exit_code == 0, r.output
    r = run("fit", trial_csv, "--metadata", meta_file, "--label", "arm", "--epsilon", "1", "-o", model, *FAST_ARGS)
    assert r.exit_code == 0, r.output
    default, chosen = (json.loads(run("info", p, "--json").stdout) for p in (model, path))
    config = chosen["train"]["config"]
    assert (config["independence"], config["refine_groups"], config["smooth_tables"]) == (2.5, False, True)
    assert default["train"]["config"]["refine_groups"] is None
    assert chosen["train"]["tables"]["refined"] == [] and default["train"]["tables"]["refined"]
    smoothed = chosen["train"]["tables"]["smoothed"]
    assert "age" in smoothed and "sex" not in smoothed and default["train"]["tables"]["smoothed"] == []
    assert f"{len(smoothed)} one-column tables smoothed" in run("info", path).stdout
    def costs(details):  # which tables the pair selection picked may differ; what was spent may not
        ledger = details["ledger"]
        return ledger["epsilon"], [{k: v for k, v in m.items() if k != "extra"} for m in ledger["mechanisms"]]

    assert costs(chosen) == costs(default)


def test_no_privacy_is_said_plainly(tmp_path, trial_csv, meta_file):
    path = tmp_path / "inf.synth"
    r = run("fit", trial_csv, "--metadata", meta_file, "--epsilon", "inf", "-o", path, *FAST_ARGS)
    assert r.exit_code == 0, r.output
    assert "none: trained without noise" in r.stdout
    assert "none: trained without noise" in run("info", path).stdout
    run("sample", path, "-n", 5, "-o", tmp_path / "s.csv")
    assert json.loads((tmp_path / "s.csv.privacy.json").read_text())["guarantee"].startswith("none")


def _bad(tmp_path, trial, **change):
    df = trial.copy()
    for k, v in change.items():
        df[k] = v
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("case", ["missing_csv", "misspelled_label", "numeric_label", "eps0", "eps_text",
                                  "delta", "text_in_number", "empty_csv", "header_only", "missing_meta",
                                  "meta_mismatch", "bad_meta_json", "independence", "semicolons",
                                  "duplicated_header", "infinite"])
def test_bad_input_one_line_exit_2_no_output(case, tmp_path, trial, trial_csv, meta_file):
    out = tmp_path / "out.synth"
    data, meta, extra = trial_csv, meta_file, []
    if case == "missing_csv":
        data, expect = tmp_path / "nope.csv", "not found"
    elif case == "misspelled_label":
        extra, expect = ["--label", "amr"], "did you mean 'arm'"
    elif case == "numeric_label":
        extra, expect = ["--label", "weight"], "must be categorical"
    elif case == "eps0":
        extra, expect = ["--epsilon", "0"], "epsilon must be > 0"
    elif case == "eps_text":
        extra, expect = ["--epsilon", "lots"], "--epsilon must be a number"
    elif case == "delta":
        extra, expect = ["--delta", "1.5"], "delta must be in (0, 1)"
    elif case == "independence":
        extra, expect = ["--independence", "-1"], "independence must be a finite weight >= 0"
    elif case == "text_in_number":
        data, expect = _bad(tmp_path, trial, age=["old"] + trial["age"].tolist()[1:]), "column 'age' of '"
    elif case == "empty_csv":
        (tmp_path / "e.csv").write_text("")
        data, expect = tmp_path / "e.csv", "is empty"
    elif case == "header_only":
        (tmp_path / "h.csv").write_text(",".join(trial.columns) + "\n")
        data, expect = tmp_path / "h.csv", "no rows"
    elif case == "missing_meta":
        meta, expect = tmp_path / "nope.json", "metadata file"
    elif case == "meta_mismatch":
        data, expect = _bad(tmp_path, trial, wieght=1), "column 'wieght'"
    elif case == "semicolons":
        trial.to_csv(tmp_path / "s.csv", sep=";", index=False)
        data, expect = tmp_path / "s.csv", "looks separated by ';', not commas"
    elif case == "duplicated_header":
        (tmp_path / "d.csv").write_text(trial.to_csv(index=False).replace("weight", "age", 1))
        data, expect = tmp_path / "d.csv", "column 'age' appears more than once in the header"
    elif case == "infinite":
        data, expect = (_bad(tmp_path, trial, weight=[np.inf] + trial["weight"].tolist()[1:]),
                        "is numerical, but some of its values are not finite numbers")
    else:
        (tmp_path / "m.json").write_text("{not json")
        meta, expect = tmp_path / "m.json", "not valid JSON"
    r = run("fit", data, "--metadata", meta, "-o", out, *FAST_ARGS, *extra)
    assert r.exit_code == 2, r.output
    assert expect in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not out.exists() and not list(tmp_path.glob(".out.synth*"))  # no partial output


def test_fit_prints_each_release_warning_on_one_line(tmp_path, meta_file):
    meta = json.loads(meta_file.read_text())
    meta["tables"]["trial"]["columns"]["sex"]["range_public"] = False
    (tmp_path / "private.json").write_text(json.dumps(meta))
    lopsided_trial().to_csv(tmp_path / "lop.csv", index=False)
    r = run("fit", tmp_path / "lop.csv", "--metadata", tmp_path / "private.json", "--label", "arm", "-o",
            tmp_path / "m.synth", *FAST_ARGS)
    assert r.exit_code == 0, r.output
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: column 'sex': DP category discovery released only 'f', so every other value is "
                      "written as missing; list its categories as range_values in the metadata"]


def test_debug_shows_the_traceback(tmp_path, trial_csv, meta_file):
    r = run("--debug", "fit", trial_csv, "--metadata", meta_file, "--epsilon", "0", "-o", tmp_path / "x")
    assert r.exit_code != 0 and r.exc_info is not None


def test_sample_errors(tmp_path, model):
    r = run("sample", tmp_path / "nope.synth", "-n", 5, "-o", tmp_path / "x.csv")
    assert r.exit_code == 2 and "not found" in r.stderr
    r = run("sample", model, "-n", 5, "-o", tmp_path / "x.csv", "--condition", "sex=f")
    assert r.exit_code == 2 and "not the label" in r.stderr and not (tmp_path / "x.csv").exists()


def test_metadata_infer_marks_ranges_private_and_export_strips_them(tmp_path, trial_csv):
    meta = tmp_path / "draft.json"
    r = run("metadata", "infer", trial_csv, "-o", meta)
    assert r.exit_code == 0 and "NOT public" in r.stderr
    cols = json.loads(meta.read_text())["tables"]["trial"]["columns"]
    assert cols["age"]["range_public"] is False and cols["pid"]["sdtype"] == "id"
    sdv = tmp_path / "sdv.json"
    assert run("metadata", "export-sdv", meta, "-o", sdv).exit_code == 0
    text = sdv.read_text()
    assert "range_" not in text and json.loads(text)["METADATA_SPEC_VERSION"] == "V1"
