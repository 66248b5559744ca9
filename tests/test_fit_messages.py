"""What a fit says: a too-small ε in the caller's own number, Python errors in the caller's
words (no CLI flag), the stages before the first epoch, and a pointer to `synth evaluate`."""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console
from typer.testing import CliRunner

from synth import Synthesizer, SynthError
from synth.cli import app
from synth.synthesizer import STAGES
from tests.conftest import FAST, TRIAL_META, make_trial


def test_a_too_small_epsilon_is_named_as_given():
    with pytest.raises(SynthError) as info:
        Synthesizer(epsilon=0.001, label="arm", **FAST).fit(make_trial(200), TRIAL_META)
    message = str(info.value)
    assert message.startswith("epsilon 0.001 is too small: its 10% for the first releases (the domain and counts), "
                              "ε = 0.0001, is less than the accountant can certify")
    assert "give a larger epsilon" in message and "share of --epsilon" not in message and "\n" not in message


@pytest.mark.parametrize("make, words", [
    (lambda: Synthesizer(epsilon=-1), "epsilon must be > 0"),
    (lambda: Synthesizer(delta=2), "delta must be in (0, 1)"),
    (lambda: Synthesizer(independence=-1), "independence must be a finite weight >= 0"),
    (lambda: Synthesizer(label="amr", **FAST).fit(make_trial(), TRIAL_META), "label column 'amr' is not in the"),
    (lambda: Synthesizer(label="age", **FAST).fit(make_trial(), TRIAL_META), "label column 'age' is numerical"),
    (lambda: Synthesizer(device="tpu"), "device must be auto, cpu or cuda"),
])
def test_python_errors_name_parameters_not_cli_flags(make, words):
    with pytest.raises(SynthError) as info:
        make()
    assert str(info.value).startswith(words) and "--" not in str(info.value)


def test_sampling_errors_name_parameters_not_cli_flags():
    s = Synthesizer(epsilon=math.inf, label="arm", **FAST).fit(make_trial(), TRIAL_META)
    for call, words in ((lambda: s.sample(0), "the number of rows to sample (n) must be at least 1"),
                        (lambda: s.sample(5, condition="arm"), "condition must be COLUMN=VALUE"),
                        (lambda: s.sample(5, condition={"sex": "f"}), "condition: 'sex' is not the label column")):
        with pytest.raises(SynthError) as info:
            call()
        assert str(info.value).startswith(words) and "--" not in str(info.value)


def test_stages_are_said_before_the_epochs_in_order():
    said = []
    Synthesizer(epsilon=1.0, label="arm", **FAST).fit(
        make_trial(), TRIAL_META, progress=lambda *a: said.append("epoch"), stage=said.append)
    assert said[:2] == list(STAGES) and said[2:] == ["epoch"] * FAST["epochs"]


def test_cli_fit_shows_its_stages_and_points_to_evaluate(tmp_path, trial_csv, meta_file, monkeypatch):
    import synth.cli as cli

    terminal = io.StringIO()  # the stages show in a terminal as a transient status line
    monkeypatch.setattr(cli, "err", Console(file=terminal, force_terminal=True, width=400))
    r = CliRunner().invoke(app, ["fit", str(trial_csv), "-m", str(meta_file), "--label", "arm", "--epochs", "2",
                                 "-o", str(tmp_path / "m.synth")])
    assert r.exit_code == 0, r.output
    shown = terminal.getvalue()
    assert 0 <= shown.index(STAGES[0]) < shown.index(STAGES[1]) < shown.index("epoch")
    (hint,) = [line for line in shown.splitlines() if "next: synth sample" in line]
    assert f"synth evaluate --real {trial_csv} --synthetic synthetic.csv -m {meta_file}" in hint
    assert not any(ch.isdigit() for ch in hint.replace(str(trial_csv), "").replace(str(meta_file), "")
                   .replace(str(tmp_path), "").split("next: ", 1)[1])  # no figure of the data


def test_an_input_error_stays_one_line_after_the_first_stage(tmp_path, meta_file):
    r = CliRunner().invoke(app, ["fit", str(tmp_path / "nope.csv"), "-m", str(meta_file), "-o", str(tmp_path / "m")])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("raised, said", [
    ("epsilon 0.0804 (this release's share of epsilon) is too small: no noise multiplier up to 1e6 reaches it; "
     "give a larger --epsilon", "epsilon 0.1 is too small: the 80% of it that the released tables may bring the "
                                "total to, ε = 0.08, is less than the accountant can certify"),
    ("epsilon 0.1 is too small: the releases before this one already spend it; give a larger --epsilon",
     "epsilon 0.1 is too small: the whole of it, which DP-SGD must fit in after the releases, is already spent"),
])
def test_every_share_is_restated_and_other_errors_pass_unchanged(raised, said):
    from synth.errors import budget_error

    assert str(budget_error(SynthError(raised), 0.1)).startswith(said)
    other = SynthError("column 'age' of the data is numerical")
    assert budget_error(other, 0.1) is other
