"""A declared binary outcome's rate per arm: the shrinkage of its released association and the
generator's calibration to it (post-processing; synth.models.calibrate)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from synth import Synthesizer
from synth.encode.table import Span
from synth.models.calibrate import calibrate, shrunk_rates
from synth.models.networks import Generator
from tests.conftest import TRIAL_META, make_trial


def _log_or(rates):
    return math.log(rates[1] / (1 - rates[1])) - math.log(rates[0] / (1 - rates[0]))


def test_a_clear_association_is_barely_shrunk_and_a_noisy_one_goes_to_zero():
    clear = np.array([[400.0, 100.0], [250.0, 250.0]])
    rates = shrunk_rates(clear, sigma=5.0)
    assert _log_or(rates) == pytest.approx(math.log(250 / 250) - math.log(100 / 400), rel=0.05)
    noisy = np.array([[300.0, 40.0], [290.0, 48.0]])  # a log odds ratio of 0.2 with a noise SE near 0.3
    rates = shrunk_rates(noisy, sigma=8.0)
    assert rates[0] == pytest.approx(rates[1])
    for counts, sigma in ((clear, 5.0), (noisy, 8.0)):  # the pooled rate is the released one
        n = counts.sum(axis=1)
        assert (n * shrunk_rates(counts, sigma)).sum() == pytest.approx(counts[:, 1].sum())


def test_no_noise_keeps_the_released_rates():
    counts = np.array([[90.0, 10.0], [70.0, 30.0]])
    assert shrunk_rates(counts, sigma=1e-9) == pytest.approx([0.1, 0.3])


def test_calibration_pins_each_class_rate_and_changes_nothing_else():
    torch.manual_seed(0)
    spans = [Span("a", 0, 1, "tanh"), Span("outcome", 1, 2, "softmax"), Span("other", 3, 3, "softmax")]
    gen = Generator(spans, 6, 2, noise_dim=4, hidden=8)
    z, y = torch.randn(4000, 4), torch.tensor([0, 1] * 2000)
    before = gen.logits(z, y).detach()
    calibrate(gen, [(1, np.array([0.2, 0.7]))], seed=3)
    after = gen.logits(z, y).detach()
    for c, want in enumerate((0.2, 0.7)):
        p = torch.softmax(after[y == c][:, 1:3], dim=1).mean(0)
        assert float(p[1] / p.sum()) == pytest.approx(want, abs=0.02)
    assert torch.equal(after[:, [0, 1, 3, 4, 5]], before[:, [0, 1, 3, 4, 5]])  # only the outcome's logit moves


def test_a_declared_fit_calibrates_its_binary_outcome_and_the_model_file_keeps_it(tmp_path):
    meta = copy.deepcopy(TRIAL_META)
    meta["synth_analysis"] = {"arm": "arm", "outcomes": ["smoker", "age"]}
    s = Synthesizer(epsilon=1.0, epochs=1, g_hidden=16, d_hidden=16, noise_dim=4, pretrain_steps=20).fit(
        make_trial(300), meta)
    assert s.label == "arm" and s._fitted["summary"]["calibrated_outcomes"] == ["smoker"]
    assert s._fitted["generator"].class_offsets.abs().sum() > 0
    s.save(tmp_path / "m.synth")
    loaded = Synthesizer.load(tmp_path / "m.synth")
    assert torch.equal(loaded._fitted["generator"].class_offsets, s._fitted["generator"].class_offsets)
    assert loaded.sample(50, seed=1).equals(s.sample(50, seed=1))


def test_without_a_declaration_the_offsets_stay_zero():
    s = Synthesizer(epsilon=1.0, label="arm", epochs=1, g_hidden=16, d_hidden=16, noise_dim=4,
                    pretrain_steps=20).fit(make_trial(300), TRIAL_META)
    assert not s._fitted["generator"].class_offsets.any()
