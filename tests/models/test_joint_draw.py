"""A declared time-to-event pair drawn jointly per arm (synth.models.joint_draw; post-processing)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from synth import Synthesizer
from synth.encode.table import Span
from synth.models.joint_draw import PairCells, calibrate_pairs
from synth.models.networks import Generator
from synth.sample.draw import _span_layout, forward_draw
from tests.conftest import TRIAL_META, make_trial

PAIR = PairCells(event_start=0, event_width=2, time_start=2, time_width=4)
SPANS = [Span("event", 0, 2, "softmax"), Span("time", 2, 4, "softmax"), Span("time", 6, 1, "tanh"),
         Span("other", 7, 3, "softmax")]


def _generator() -> Generator:
    torch.manual_seed(0)
    return Generator(SPANS, 10, 2, noise_dim=4, hidden=8)


def _draw(gen: Generator, n: int, label: int, seed: int = 1):
    rng = torch.Generator().manual_seed(seed)
    layout = _span_layout(gen, SPANS)
    z = torch.randn(n, 4, generator=rng)
    labels = torch.full((n,), label, dtype=torch.long)
    return forward_draw(gen, layout, z, labels, torch.rand(n, layout["uniforms"], generator=rng))


TARGETS = np.array([[[0.3, 0.2, 0.1, 0.1], [0.1, 0.1, 0.05, 0.05]],
                    [[0.1, 0.1, 0.1, 0.2], [0.2, 0.2, 0.05, 0.05]]])


def test_each_arm_draws_the_pair_as_its_target_says():
    gen = _generator()
    gen.joint = calibrate_pairs(gen, [PAIR], [TARGETS], np.array([0.5, 0.5]), seed=3)
    for c in range(2):
        _, chosen = _draw(gen, 40_000, c)
        have = np.bincount(chosen[0] * 4 + chosen[2], minlength=8).reshape(2, 4) / 40_000
        np.testing.assert_allclose(have, TARGETS[c], atol=0.015)


def test_a_merged_table_sets_the_groups_and_leaves_the_bins_within_them_to_the_generator():
    gen = _generator()
    groups = np.array([0, 0, 1, 1])
    grouped = np.stack([TARGETS[:, :, :2].sum(axis=2), TARGETS[:, :, 2:].sum(axis=2)], axis=2)
    gen.joint = calibrate_pairs(gen, [PAIR], [grouped], np.array([0.5, 0.5]), seed=3, groups=[groups])
    theta = gen.joint.tilt(0)
    assert torch.equal(theta[:, :, 0], theta[:, :, 1]) and torch.equal(theta[:, :, 2], theta[:, :, 3])
    for c in range(2):
        _, chosen = _draw(gen, 40_000, c)
        have = np.bincount(chosen[0] * 2 + groups[chosen[2]], minlength=4).reshape(2, 2) / 40_000
        np.testing.assert_allclose(have, grouped[c], atol=0.015)


def test_the_position_inside_a_bin_carries_no_arm():
    gen = _generator()
    with torch.no_grad():  # make the generator's own position depend strongly on the arm
        gen.embed.weight[0].fill_(3.0)
        gen.embed.weight[1].fill_(-3.0)
    positions = {}
    for joint in (False, True):
        gen.joint = calibrate_pairs(gen, [PAIR], [TARGETS], np.array([0.5, 0.5]), seed=3) if joint else None
        means = []
        for c in range(2):
            out, chosen = _draw(gen, 20_000, c)
            first = (chosen[2] == 0) & (chosen[0] == 0)
            means.append(out[first, 6].mean())
        positions[joint] = abs(means[0] - means[1])
    assert positions[True] < 0.05 < positions[False]


def test_without_a_joint_the_draws_are_the_independent_ones():
    gen = _generator()
    out, chosen = _draw(gen, 500, 1)
    gen.joint = calibrate_pairs(gen, [PAIR], [TARGETS], np.array([0.5, 0.5]), seed=3)
    gen.joint = None
    again, chosen_again = _draw(gen, 500, 1)
    assert np.array_equal(out, again) and all(np.array_equal(chosen[k], chosen_again[k]) for k in chosen)


def _declared_fit():
    meta = copy.deepcopy(TRIAL_META)
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["smoker"],
                              "time_to_event": [{"time": "age", "event": "smoker"}]}
    return Synthesizer(epsilon=1.0, epochs=1, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=20).fit(
        make_trial(300), meta)


def test_a_declared_pair_is_drawn_jointly_and_the_model_file_keeps_it(tmp_path):
    s = _declared_fit()
    assert s._fitted["summary"]["joint_time_to_event"] == ["age → smoker"]
    s.save(tmp_path / "m.synth")
    loaded = Synthesizer.load(tmp_path / "m.synth")
    for name, buffer in s._fitted["generator"].joint.state_dict().items():
        assert torch.equal(loaded._fitted["generator"].joint.state_dict()[name], buffer)
    assert loaded.sample(300, seed=2).equals(s.sample(300, seed=2))
    loaded.write_csv(tmp_path / "x.csv", 300, seed=2)  # the streaming path draws the same rows
    streamed, rows = pd.read_csv(tmp_path / "x.csv"), s.sample(300, seed=2)
    for column in ("age", "smoker", "arm"):
        assert streamed[column].astype(str).str.lower().tolist() == rows[column].astype(str).str.lower().tolist()


@pytest.fixture(scope="module")
def declared_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("joint") / "m.synth"
    _declared_fit().save(path)
    return path


def _rewritten(path, tmp_path, edit):
    """The model file at ``path`` with ``edit(tensors, doc)`` applied, written anew (a consistent
    checksum: what a stranger can craft)."""
    import synth.io.modelfile as mf

    tensors, doc = mf.read_model(path)
    tensors = dict(tensors)
    edit(tensors, doc)
    out = tmp_path / "crafted.synth"
    mf.write_model(out, tensors, {k: v for k, v in doc.items() if k not in ("format", "format_version")})
    return out


def _set_pairs(pairs):
    def edit(tensors, doc):
        doc["generator"]["joint"] = pairs
    return edit


def _shift_event(tensors, doc):  # a pair off its spans, the tensors as stored
    doc["generator"]["joint"][0][0] += 1


def _widen(tensors, doc):  # a huge pair: refused before anything is allocated
    width = tensors["out.weight"].shape[0]
    doc["generator"]["joint"] = [[0, width - 3, 1, width - 3]]


def _nan_tilt(tensors, doc):
    tensors["joint.tilt_0"] = tensors["joint.tilt_0"].clone().fill_(float("nan"))


def _unordered_positions(tensors, doc):
    tensors["joint.position_0"] = tensors["joint.position_0"].flip(-1).contiguous()


def _extra_tensor(tensors, doc):
    tensors["joint.tilt_1"] = tensors["joint.tilt_0"].clone()


@pytest.mark.parametrize("edit", [_set_pairs([[0, 2, 99, 4]]), _set_pairs([[0, 2, 2]]), _set_pairs("x"),
                                  _set_pairs([[0, 2, 2, 4]] * 17), _shift_event, _widen, _nan_tilt,
                                  _unordered_positions, _extra_tensor])
def test_a_model_file_with_impossible_pairs_is_refused_in_one_line(declared_file, tmp_path, edit):
    from synth.errors import SynthError

    crafted = _rewritten(declared_file, tmp_path, edit)
    with pytest.raises(SynthError, match="model file"):
        Synthesizer.load(crafted)


def test_a_joint_draw_in_an_old_format_file_is_refused(declared_file, tmp_path, monkeypatch):
    import synth.io.modelfile as mf
    from synth.errors import SynthError

    monkeypatch.setattr(mf, "FORMAT_VERSION", 9)
    crafted = _rewritten(declared_file, tmp_path, lambda tensors, doc: None)
    with pytest.raises(SynthError, match="format version 9"):
        Synthesizer.load(crafted)
