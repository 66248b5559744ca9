"""From a messy real export to a fit: reading options, one error for every column, the draft, the review."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from synth.schema.infer import draft_metadata, is_row_number
from synth.schema.metadata import Metadata
from synth.schema.reading import ReadOptions, clean_frame, read_csv, read_options
from synth.schema.validate import coerce_frame
from tests.conftest import FAST, TRIAL_META, make_trial

SECRET = "zzq-secret-917"
N = 263  # patients of the messy export: never printed


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def one_line_error(r, *expected: str) -> str:
    assert r.exit_code == 2, r.output
    text = r.stderr.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in r.output, text
    for e in expected:
        assert e in text, text
    return text


def messy(n: int = N, seed: int = 1) -> pd.DataFrame:
    """An export as a statistics package writes it: R's rownames, '.' for a missing number,
    padded categories, a free-text column, a mostly missing one and one of many categories."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 80, n).astype(str).astype(object)
    age[rng.random(n) < 0.1] = "."
    ga = np.round(rng.normal(270, 12, n), 1).astype(object)
    ga[rng.random(n) < 0.05] = "."
    lab = rng.normal(1, 0.2, n).round(2).astype(object)
    lab[rng.random(n) < 0.8] = np.nan
    return pd.DataFrame({
        "rownames": np.arange(1, n + 1),
        "pid": rng.permutation(np.arange(7000, 7000 + n)),
        "age": age,
        "ga": ga,
        "score": rng.choice([-99, 1, 2, 3], n),  # -99 may be a real value: never guessed as missing
        "smoke": rng.choice(["No ", " Yes", "No", "Yes  "], n),
        "note": [f"{SECRET} reported {w} symptoms on day {d}" for w, d in
                 zip(rng.choice(["mild", "severe"], n), rng.integers(0, 10_000, n))],
        "site": rng.choice([f"{SECRET}{i}" for i in range(40)], n),
        "lab": lab,
        "arm": rng.choice(["a", "b"], n),
    })


# ------------------------------------------------------------------ reading
def test_default_options_read_a_frame_unchanged():
    df = messy()
    assert clean_frame(df, ReadOptions()) is df


def test_markers_and_padding_are_cleaned_and_a_text_column_of_numbers_becomes_numerical():
    df = messy()
    clean = clean_frame(df, ReadOptions(strip_whitespace=True, na_values=(".",)))
    assert pd.api.types.is_numeric_dtype(clean["age"]) and pd.api.types.is_numeric_dtype(clean["ga"])
    assert clean["age"].isna().sum() == (df["age"] == ".").sum()
    assert set(clean["smoke"]) == {"No", "Yes"}
    assert (clean["score"] == -99).any()  # not a marker unless given
    assert clean_frame(df, ReadOptions(na_values=("-99",)))["score"].isna().sum() == (df["score"] == -99).sum()
    assert set(clean_frame(df, ReadOptions(na_values=(".",)))["smoke"]) == set(df["smoke"])  # padding kept


def test_options_come_from_synth_read_and_the_command_line_overrides_them():
    extra = {"synth_read": {"strip_whitespace": True, "na_values": [".", -99], "sep": ";", "decimal": ","}}
    assert read_options(extra) == ReadOptions(True, (".", "-99"), None, ";", ",")
    assert read_options(extra, strip_whitespace=False, na_values="NA,.", sep=None) == \
        ReadOptions(False, ("NA", "."), None, ";", ",")
    for bad, message in [({"nope": 1}, "unknown key 'nope'"), ({"strip_whitespace": "yes"}, "true or false"),
                         ({"encoding": "klingon"}, "unknown encoding"), ({"sep": ";;"}, "one character"),
                         ({"na_values": {"x": 1}}, "list of markers")]:
        with pytest.raises(SynthError, match=message):
            read_options({"synth_read": bad})
    with pytest.raises(SynthError, match="--sep and --decimal"):
        read_options(extra, sep=",")


def test_a_non_utf8_file_names_encoding_and_reads_with_it(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes("pid,city\n1,Zürich\n2,Genève\n".encode("cp1252"))
    with pytest.raises(SynthError, match="not UTF-8 text; give its encoding with --encoding") as info:
        read_csv(str(path))
    assert "\n" not in str(info.value) and "0x" not in str(info.value)
    assert read_csv(str(path), ReadOptions(encoding="cp1252"))["city"].tolist() == ["Zürich", "Genève"]


def test_a_workbook_or_binary_export_is_named_as_such(tmp_path):
    for name, head in [("x.xlsx", b"PK\x03\x04\x14\x00"), ("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1"),
                       ("x.csv", b"PK\x03\x04rest")]:
        (tmp_path / name).write_bytes(head + b"\x00" * 64)
        with pytest.raises(SynthError, match="spreadsheet workbook .*save the sheet as CSV"):
            read_csv(str(tmp_path / name))
    (tmp_path / "x.sas7bdat").write_bytes(b"\x00\x00\x00\x00abc" * 40)
    with pytest.raises(SynthError, match="not a text file"):
        read_csv(str(tmp_path / "x.sas7bdat"))


def test_semicolons_and_decimal_commas_name_the_options_and_read_with_them(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("pid;weight;sex\n1;71,5;f\n2;80,25;m\n")
    with pytest.raises(SynthError, match=r"separated by ';'.*give --sep ';' \(and --decimal ','"):
        read_csv(str(path))
    df = read_csv(str(path), ReadOptions(sep=";", decimal=","))
    assert df["weight"].tolist() == [71.5, 80.25]
    meta = Metadata.load(TRIAL_META)
    with pytest.raises(SynthError, match="decimal comma: give --decimal ','"):
        coerce_frame(read_csv(str(path), ReadOptions(sep=";")),
                     Metadata(columns={"pid": {"sdtype": "id"}, "weight": meta.columns["weight"],
                                       "sex": meta.columns["sex"]}))


# ------------------------------------------------------------------ one error for every column
def test_every_offending_column_is_named_in_one_error_without_values():
    meta = Metadata.load(TRIAL_META)
    meta.columns["visit"]["range_is_nullable"] = True
    meta.columns["mood"] = {"sdtype": "categorical", "range_values": ["low", "high"]}
    df = make_trial(N).assign(mood="low")
    for col, value in [("age", "."), ("weight", SECRET), ("sex", "f "), ("mood", " high"), ("arm", SECRET)]:
        df[col] = df[col].astype(object)
        df.loc[5:9, col] = value
    df.loc[3, "visit"] = "yesterday"
    with pytest.raises(SynthError) as info:
        coerce_frame(df, meta, "the data", public=True)
    text = str(info.value)
    assert "\n" not in text and SECRET not in text and not {str(N), "5", "9"} & set(re.findall(r"\d+", text))
    assert "columns 'age', 'weight' of the data are numerical, but some of their values are not numbers" in text
    assert "in 'age' some look like missing-value markers" in text
    assert "column 'visit' of the data is datetime" in text
    assert "columns 'sex', 'arm', 'mood' hold values outside their range_values" in text
    assert "in 'sex', 'mood' some have leading or trailing spaces: give --strip-whitespace" in text


def test_the_fit_reads_the_export_as_synth_read_says():
    df = make_trial(200).astype({"age": object, "sex": object})
    df.loc[:9, "age"], df.loc[10:19, "sex"] = ".", "m  "
    meta = json.loads(json.dumps(TRIAL_META))
    meta["tables"]["trial"]["columns"]["age"]["range_is_nullable"] = True
    with pytest.raises(SynthError, match="column 'age' of the data is numerical.*column 'sex' holds a value"):
        Synthesizer(epsilon=math.inf, **FAST).fit(df, meta)
    meta["synth_read"] = {"strip_whitespace": True, "na_values": ["."]}
    s = Synthesizer(epsilon=math.inf, **FAST).fit(df, meta)
    assert len(s.sample(5)) == 5


# ------------------------------------------------------------------ the draft
def test_infer_strips_padding_reads_markers_and_never_keys_on_row_numbers():
    meta, notes = draft_metadata(messy())
    cols = meta.columns
    assert cols["age"]["sdtype"] == "numerical" and cols["ga"]["sdtype"] == "numerical"
    assert cols["smoke"]["range_values"] == ["No", "Yes"] and cols["smoke"]["range_public"] is False
    assert cols["score"]["range_values"] == [-99, 1, 2, 3]  # -99 stays a value
    assert cols["rownames"]["sdtype"] == "id" and meta.primary_key == "pid"
    assert cols["note"]["sdtype"] == "pii"
    assert meta.extra["synth_read"] == {"strip_whitespace": True, "na_values": ["."],
                                        "synth_review": ["strip_whitespace", "na_values"]}
    assert "synth_read: strip_whitespace, na_values" in meta.unreviewed()
    said = " ".join(notes)
    assert "'smoke'" in said and "'age', 'ga'" in said and "'rownames'" in said and "primary_key: 'pid'" in said
    assert SECRET not in said and str(N) not in said


def test_text_that_is_not_a_marker_keeps_a_column_categorical():
    df = pd.DataFrame({"crp": ["<5", "7", "12", "."] * 30, "x": range(120)})
    meta, _ = draft_metadata(df)
    assert meta.columns["crp"]["sdtype"] == "categorical" and "synth_read" not in meta.extra


@pytest.mark.parametrize("name,values", [("Unnamed: 0", "zero"), ("X", "one"), ("...1", "one"), ("index", "zero"),
                                         ("id", "one"), ("rownames", "shuffled")])
def test_row_number_columns_are_never_the_primary_key(name, values):
    n = 50
    rows = {"zero": np.arange(n), "one": np.arange(1, n + 1),
            "shuffled": np.random.default_rng(0).permutation(n) + 1}[values]
    df = pd.DataFrame({name: rows, "age": np.random.default_rng(1).integers(20, 80, n)})
    assert is_row_number(name, df[name])
    meta, notes = draft_metadata(df)
    assert meta.primary_key is None and meta.columns[name]["sdtype"] == "id"
    assert any("row numbers" in note for note in notes)
    assert not is_row_number("pid", pd.Series(np.arange(1000, 1000 + n)))


def test_the_draft_reads_the_export_the_same_way_and_fits(tmp_path):
    path = tmp_path / "export.csv"
    messy().to_csv(path, index=False)
    meta, _ = draft_metadata(read_csv(str(path)))
    draft = tmp_path / "draft.json"
    meta.save(draft)
    with pytest.warns(Warning):
        s = Synthesizer(epsilon=math.inf, **FAST).fit(path, draft)
    assert set(s.sample(20)["smoke"].dropna()) <= {"No", "Yes"}


# ------------------------------------------------------------------ the command line
def test_infer_then_review_say_what_they_did_and_print_no_value(tmp_path):
    path, draft = tmp_path / "export.csv", tmp_path / "draft.json"
    messy().to_csv(path, index=False)
    r = run("metadata", "infer", path, "-o", draft)
    assert r.exit_code == 0, r.output
    assert "note: column 'smoke': leading or trailing spaces stripped" in r.stderr
    assert "note: column 'rownames': row numbers" in r.stderr and "metadata review" in r.stderr
    r = run("metadata", "review", draft, path)
    assert r.exit_code == 0, r.output
    text = r.stdout
    for expected in ["DP estimate", "row numbers: drop", "the patient id", "mostly missing", "many categories",
                     "not modelled (placeholders)", "per category", "per interval", "suggested to drop or coarsen",
                     "about 300 patients"]:
        assert expected in text, expected
    assert SECRET not in text and str(N) not in text.replace(",", "")
    suggested = text[text.index("suggested to drop or coarsen"):]
    assert all(c in suggested for c in ("rownames", "note", "site", "lab"))


def test_review_of_public_metadata_costs_nothing_for_the_domains(tmp_path, trial_csv, meta_file):
    r = run("metadata", "review", meta_file, trial_csv, "--epsilon", "2")
    assert r.exit_code == 0, r.output
    assert "DP estimate" not in r.stdout and "6 columns modelled: 6 with a public domain" in r.stdout
    one_line_error(run("metadata", "review", meta_file, trial_csv, "--epsilon", "0"), "--epsilon must be > 0")


def test_fit_and_evaluate_options_change_what_is_read(tmp_path):
    df = make_trial(150).astype({"age": object, "sex": object})
    df.loc[:9, "age"], df.loc[10:19, "sex"] = ".", " f"
    csv, meta = tmp_path / "real.csv", tmp_path / "meta.json"
    df.to_csv(csv, sep=";", index=False, encoding="cp1252")
    spec = json.loads(json.dumps(TRIAL_META))
    spec["tables"]["trial"]["columns"]["age"]["range_is_nullable"] = True
    meta.write_text(json.dumps(spec))
    model = tmp_path / "m.synth"
    one_line_error(run("fit", csv, "-m", meta, "-o", model, "--epochs", "1"), "separated by ';'", "--sep")
    one_line_error(run("fit", csv, "-m", meta, "-o", model, "--epochs", "1", "--sep", ";"),
                   "column 'age' of", "column 'sex' holds", "--na-values", "--strip-whitespace")
    one_line_error(run("fit", csv, "-m", meta, "-o", model, "--sep", ";", "--na-values", ".", "--encoding", "nope"),
                   "--encoding: unknown encoding 'nope'")
    args = ["--sep", ";", "--na-values", ".", "--strip-whitespace", "--epsilon", "inf"]
    r = run("fit", csv, "-m", meta, "-o", model, "--epochs", "1", *args)
    assert r.exit_code == 0, r.output
    syn = tmp_path / "syn.csv"
    assert run("sample", model, "-n", 150, "-o", syn).exit_code == 0
    evaluate = ["evaluate", "--real", csv, "--synthetic", syn, "-m", meta, "-o", tmp_path / "r.html"]
    one_line_error(run(*evaluate, "--sep", ";"), "--na-values")
    r = run(*evaluate, "--sep", ";", "--na-values", ".", "--strip-whitespace")
    assert r.exit_code == 0, r.output


def test_infer_records_how_the_file_was_read(tmp_path):
    path = tmp_path / "eu.csv"
    make_trial(60).to_csv(path, sep=";", decimal=",", index=False)
    one_line_error(run("metadata", "infer", path, "-o", tmp_path / "d.json"), "--sep ';'")
    r = run("metadata", "infer", path, "-o", tmp_path / "d.json", "--sep", ";", "--decimal", ",")
    assert r.exit_code == 0, r.output
    draft = json.loads((tmp_path / "d.json").read_text())
    assert draft["synth_read"] == {"sep": ";", "decimal": ","}
    assert draft["tables"]["eu"]["columns"]["weight"]["sdtype"] == "numerical"
    one_line_error(run("metadata", "infer", tmp_path / "nope.csv", "-o", tmp_path / "d.json"), "not found")


def test_read_options_reach_the_ranks_of_a_fit_over_several_processes():
    from synth.cli.reading import as_args, given

    assert as_args(given(True, ".,NA", None, ";", None)) == ["--strip-whitespace", "--na-values", ".,NA", "--sep", ";"]
    assert as_args(given(False, None, "cp1252", None, ",")) == ["--no-strip-whitespace", "--encoding", "cp1252",
                                                                 "--decimal", ","]
