"""The canary audit: sound on a mechanism of known ε, and able to see a leak in a real fit."""

import math

import numpy as np
import pytest

from synth.privacy.audit import clopper_pearson, epsilon_lower_bound
from tests.conftest import load_bench


def test_clopper_pearson_pinned():
    lo, hi = clopper_pearson(0, 20, 0.05)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 20))  # closed form at zero successes
    lo, hi = clopper_pearson(20, 20, 0.05)
    assert hi == 1 and lo == pytest.approx(0.025 ** (1 / 20))
    lo, hi = clopper_pearson(5, 10, 0.05)
    assert (lo, hi) == pytest.approx((0.18709, 0.81291), abs=1e-5)


def test_perfect_separation_bound_is_pinned():
    r = epsilon_lower_bound(20, 20, 0, 20, delta=0.0, alpha=0.05)
    tpr_lo = 0.0125 ** (1 / 20)  # α/2 per rate, two-sided
    assert r.epsilon_lower == pytest.approx(math.log(tpr_lo / (1 - tpr_lo)))
    assert epsilon_lower_bound(10, 20, 10, 20, delta=0.0).epsilon_lower == 0.0


def test_bound_is_sound_and_tight_on_randomized_response():
    """ε-randomized response answers truthfully with probability e^ε / (1 + e^ε): the best test
    has TPR = e^ε FPR exactly, so the bound must stay below ε and come close with many trials."""
    rng = np.random.default_rng(0)
    eps, n = 1.0, 20_000
    p = math.exp(eps) / (1 + math.exp(eps))
    tp, fp = int((rng.random(n) < p).sum()), int((rng.random(n) < 1 - p).sum())
    bound = epsilon_lower_bound(tp, n, fp, n, delta=0.0).epsilon_lower
    assert 0.85 < bound <= eps


@pytest.fixture(scope="module")
def bench():
    return load_bench("audit")


def test_audit_finds_no_leak_in_the_shipped_fit(bench):
    result = bench.audit("shipped", trials=40, epsilon=1.0, patients=40, quick=True)["label count"]
    assert result.positives == result.negatives == 20
    assert result.epsilon_lower <= 1.0


def test_audit_sees_the_leak_of_a_known_noise_seed(bench):
    """The old behaviour (noise seeded by a stored --seed): the attacker replays the noise."""
    result = bench.audit("known-seed", trials=40, epsilon=1.0, patients=40, quick=True)["label count"]
    assert result.true_positives == 20 and result.false_positives == 0
    assert result.epsilon_lower > 1.0  # above the claim: the audit has power
