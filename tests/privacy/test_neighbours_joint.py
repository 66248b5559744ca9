"""The neighbour harness on a declared time-to-event pair drawn jointly per arm
(synth.models.joint_draw): the same model file on D and D plus one patient under the same
secret stream, and a mutant whose targets are exact counts is seen."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import synth.models.joint_draw as joint_module
import synth.synthesizer as synthesizer_module
from synth.privacy.analysis_tables import declared_table
from synth.privacy.neighbours import run_neighbours
from tests.conftest import make_trial
from tests.privacy.test_neighbours import NEW_PATIENT, WHOLE, _fit, _same_public_output, _trial_meta, _with_patient

pytestmark = pytest.mark.filterwarnings("ignore::synth.SynthWarning")


def _declared_pair() -> dict:
    meta = _trial_meta()
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["smoker"],
                              "time_to_event": [{"time": "age", "event": "smoker"}]}
    return meta


@pytest.mark.parametrize("at", [0, 25])
def test_a_joint_pair_gives_the_same_model_file_on_neighbours(at, tmp_path):
    df = make_trial(50)
    harness = run_neighbours(_fit(_declared_pair(), label=None, **WHOLE), df, _with_patient(df, NEW_PATIENT, at))
    assert not harness.check()
    first = harness.results[0][0]
    assert first._fitted["summary"].get("joint_time_to_event") == ["age → smoker"]
    assert first._fitted["generator"].joint.tilt(0).abs().sum() > 0
    _same_public_output(harness, tmp_path)


def test_the_harness_sees_a_joint_draw_fitted_to_exact_counts(monkeypatch, tmp_path):
    real = joint_module.draw_pairs_jointly
    prepared = {}

    def leaky(gen, analysis, tables, label, proportions, seed):
        p = prepared["p"]
        table = declared_table(tables, ("smoker", "age"))
        event, time = table.blocks
        exact = np.zeros(table.counts.shape)
        np.add.at(exact, (p.y, p.x[:, event.start:event.start + event.width].argmax(1),
                          p.x[:, time.start:time.start + time.width].argmax(1)), 1)
        tables = [replace(t, counts=exact, totals=None) if t is table else t for t in tables]
        return real(gen, analysis, tables, label, proportions, seed)

    original = synthesizer_module.prepare

    def spy(*args, **kwargs):
        prepared["p"] = original(*args, **kwargs)
        return prepared["p"]
    monkeypatch.setattr(synthesizer_module, "prepare", spy)
    monkeypatch.setattr(synthesizer_module, "draw_pairs_jointly", leaky)
    df = make_trial(50)
    harness = run_neighbours(_fit(_declared_pair(), label=None, **WHOLE), df, _with_patient(df, NEW_PATIENT, 25))
    assert not harness.check()
    with pytest.raises(AssertionError):
        _same_public_output(harness, tmp_path)
