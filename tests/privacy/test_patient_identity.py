"""The privacy unit of a table of one row per patient: a declared id column is checked to hold no
repeat (a patient on two rows would count twice, and the guarantee would not hold for them);
without one, the ledger says that the guarantee assumes one row per patient."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from tests.conftest import FAST, TRIAL_META, make_trial

DATA = Path(__file__).resolve().parents[2] / "data"
ASSUMED = "no id column is declared, so the guarantee assumes no patient has two rows"


def _run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich may wrap a long line


def _actg_with_repeats() -> pd.DataFrame:
    df = pd.read_csv(DATA / "actg175.csv")
    return pd.concat([df, df.iloc[:5]], ignore_index=True)  # five patients on two rows each


def test_a_repeated_id_stops_the_fit_naming_the_column_and_the_fix():
    with pytest.raises(SynthError) as err:
        Synthesizer(epsilon=1.0, **FAST).fit(_actg_with_repeats(), DATA / "actg175.json")
    message = str(err.value)
    assert "id column 'pidnum' (the metadata's primary_key) repeats" in message and "\n" not in message
    assert "de-duplicate" in message and "\"sequence_key\": \"pidnum\"" in message
    assert "5" not in message and "2139" not in message and "2144" not in message  # not how many, nor which


def test_a_repeated_id_on_the_command_line_is_one_line_exit_2_and_writes_nothing(tmp_path):
    _actg_with_repeats().to_csv(tmp_path / "dup.csv", index=False)
    out = tmp_path / "m.synth"
    r = _run("fit", tmp_path / "dup.csv", "-m", DATA / "actg175.json", "-o", out, "--epochs", "1")
    assert r.exit_code == 2, r.output
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert "id column 'pidnum'" in r.stderr and "repeats" in r.stderr
    assert not out.exists()


def test_ids_equal_as_categories_repeat_and_a_missing_id_stops_too():
    df = make_trial().astype({"pid": object})
    df.loc[1, "pid"] = str(df.loc[0, "pid"])  # 1000 and "1000": one id
    with pytest.raises(SynthError, match="id column 'pid' .* repeats"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, TRIAL_META)
    df = make_trial().astype({"pid": object})
    df.loc[3, "pid"] = None
    with pytest.raises(SynthError, match="id column 'pid' .* is missing in some rows"):
        Synthesizer(epsilon=1.0, **FAST).fit(df, TRIAL_META)


def test_the_ledger_names_the_checked_id_column_or_states_the_assumption_without_one(tmp_path):
    with_id = Synthesizer(epsilon=1.0, **FAST).fit(make_trial(), TRIAL_META)
    assert with_id.ledger.privacy_unit == "one patient (one row; its id column 'pid' holds no repeat)"
    meta = copy.deepcopy(TRIAL_META)
    del meta["tables"]["trial"]["primary_key"]
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    df = make_trial()
    df.loc[1, "pid"] = df.loc[0, "pid"]  # no declared id: nothing to check it against
    df.to_csv(tmp_path / "t.csv", index=False)
    model = tmp_path / "m.synth"
    r = _run("fit", tmp_path / "t.csv", "-m", tmp_path / "meta.json", "-o", model, "--epochs", "2")
    assert r.exit_code == 0, r.output
    assert ASSUMED in _flat(r.stdout)
    assert ASSUMED in _flat(_run("info", model).stdout)
    ledger = json.loads(_run("info", model, "--json").stdout)["ledger"]
    assert ASSUMED in ledger["privacy_unit"] and ASSUMED in ledger["guarantee"]
