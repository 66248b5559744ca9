"""The canary audit: sound on a mechanism of known ε, and able to see a leak in a real fit."""

import math

import numpy as np
import pytest

from synth.privacy.audit import (clopper_pearson, epsilon_lower_bound, one_run_bound, one_run_epsilon,
                                 one_run_p_value, trials_ceiling)
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
    return load_bench("dev.audit")


def test_audit_finds_no_leak_in_the_shipped_fit(bench):
    result = bench.audit("shipped", trials=40, epsilon=1.0, patients=40, quick=True)["label count"]
    assert result.positives == result.negatives == 20
    assert result.epsilon_lower <= 1.0


def test_audit_sees_the_leak_of_a_known_noise_seed(bench):
    """The old behaviour (noise seeded by a stored --seed): the attacker replays the noise."""
    result = bench.audit("known-seed", trials=40, epsilon=1.0, patients=40, quick=True)["label count"]
    assert result.true_positives == 20 and result.false_positives == 0
    assert result.epsilon_lower > 1.0  # above the claim: the audit has power


def test_one_run_bound_without_delta_is_randomized_responses_binomial_tail():
    """δ = 0: ε̂ is where P[Binomial(r, e^ε/(1+e^ε)) ≥ v] = α, checked against scipy's binomial
    directly, and in closed form when every guess is right (p^r = α)."""
    from scipy.stats import binom

    eps = one_run_epsilon(1000, 100, 80, delta=0.0, alpha=0.05)
    p = math.exp(eps) / (1 + math.exp(eps))
    assert binom.sf(79, 100, p) == pytest.approx(0.05, abs=1e-5)
    assert one_run_p_value(1000, 100, 80, eps, 0.0) == pytest.approx(binom.sf(79, 100, p))
    p_all = 0.05 ** (1 / 100)
    assert one_run_epsilon(1000, 100, 100, 0.0) == pytest.approx(math.log(p_all / (1 - p_all)), abs=1e-5)
    assert one_run_epsilon(1000, 100, 50, 0.0) == 0.0  # chance: no ε ruled out


def test_one_run_delta_term_matches_the_theorem_term_by_term():
    """The δ term, 2mδ · max_i (f(v − i) − f(v)) / i with f(v) = P[B ≥ v], computed the slow way."""
    from scipy.stats import binom

    m, r, v, eps, delta = 500, 60, 45, 0.7, 1e-3
    p = math.exp(eps) / (1 + math.exp(eps))
    f = lambda k: binom.sf(k - 1, r, p)  # noqa: E731
    slow = f(v) + 2 * m * delta * max((f(v - i) - f(v)) / i for i in range(1, v + 1))
    assert one_run_p_value(m, r, v, eps, delta) == pytest.approx(slow, rel=1e-9)
    assert one_run_epsilon(m, r, v, delta) < one_run_epsilon(m, r, v, 0.0)  # δ > 0 only weakens the bound


def test_one_run_bound_is_sound_on_randomized_response_and_states_its_ceiling():
    """Each guess right with probability e^ε/(1+e^ε) (ε-DP randomized response): ε̂ stays below ε;
    the ceiling is ε̂ with every guess right, and grows with the guesses."""
    rng = np.random.default_rng(1)
    eps, r = 1.0, 5000
    v = int((rng.random(r) < math.exp(eps) / (1 + math.exp(eps))).sum())
    result = one_run_bound(r, r, v, delta=1e-5)
    assert 0.9 < result.epsilon_lower <= eps
    assert result.ceiling == one_run_epsilon(r, r, r, 1e-5) > one_run_epsilon(r, 100, 100, 1e-5) > eps
    assert one_run_bound(1000, 100, 100, 1e-5).ceiling == pytest.approx(3.465, abs=1e-3)
    assert trials_ceiling(100, 1e-5) == pytest.approx(epsilon_lower_bound(50, 50, 0, 50, 1e-5).epsilon_lower)


@pytest.fixture(scope="module")
def dp_sgd(bench):
    return bench.audit_dp_sgd  # bench/dev/audit_dp_sgd.py, as bench/dev/audit.py imports it


def test_canary_scores_match_each_canarys_clipped_gradient_by_autograd(dp_sgd):
    """The batched score (each canary's first-layer columns gathered, vmap) against plain autograd:
    the clipped gradient of BCE(D(x), 1), its inner product with the noisy sum on the first-layer
    weight columns of the features the canary alone holds."""
    import torch

    from synth.models.networks import Discriminator

    torch.manual_seed(0)
    others = np.array([[1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0]], dtype=float)
    canaries = np.array([[0, 0, 1, 0, 1, 0], [0, 0, 0, 1, 0, 1]], dtype=float)  # feature 4 is shared
    disc = Discriminator(6, 0, 5)
    noisy = torch.randn(sum(p.numel() for p in disc.parameters()))
    scores = dp_sgd.GradientScores(canaries, others)
    inner, signal = scores.step_scores(disc, noisy, clip=0.05)
    for i, x in enumerate(canaries):
        disc.zero_grad()
        s, _ = disc(torch.as_tensor(x[None], dtype=torch.float32))
        torch.nn.functional.binary_cross_entropy_with_logits(s, torch.ones_like(s)).backward()
        g = torch.cat([p.grad.flatten() for p in disc.parameters()])
        g = g * min(1.0, 0.05 / float(g.norm()))
        own = torch.zeros(5, 6, dtype=torch.bool)
        own[:, [[2], [3, 5]][i]] = True  # canary 0's own feature is 2 (4 is shared); canary 1's are 3 and 5
        mine = g[:30] * own.flatten()
        assert float(inner[i]) == pytest.approx(float(mine @ noisy[:30]), rel=1e-5)
        assert float(signal[i]) == pytest.approx(float(mine @ mine), rel=1e-5)


def test_one_run_audit_of_dp_sgd_end_to_end(dp_sgd):
    """A tiny one-run audit (40 canaries, 20 steps at q = 1): the fit releases DP-SGD alone, the
    listener hears every step; at ε = 1 no leak, at ε = ∞ every guess right (ε̂ at its ceiling)."""
    tiny = dict(canaries=40, guesses=20, columns=4, steps=20, others=20, batch_size=40, noise_seed=7)
    claimed = dp_sgd.one_run(1.0, **tiny)
    assert claimed.steps == 20 and claimed.sample_rate == 1.0 and claimed.sigma > 1
    assert claimed.result.epsilon_lower <= 1.0
    assert claimed.result.ceiling == pytest.approx(one_run_epsilon(40, 20, 20, 1e-5))
    control = dp_sgd.one_run(math.inf, **tiny)
    assert control.result.correct == 20 and control.result.epsilon_lower == control.result.ceiling > 1.5


def test_the_dp_sgd_fit_refuses_any_other_release(dp_sgd):
    """A label's counts are a release: the audited fit must not make one unnoticed."""
    others, _, meta = dp_sgd.canary_table(4, 10, columns=2)
    with pytest.raises(RuntimeError, match="not DP-SGD alone"):
        dp_sgd.fit(others, meta, math.inf, lambda *a: a[2], steps=1, label="tag0")
