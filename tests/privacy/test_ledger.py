import math

import pytest
from dp_accounting import dp_event, pld, rdp

from synth.privacy.ledger import Ledger, Mechanism, calibrate_sigma, compose_epsilon


def _independent_rdp(history, delta):
    """The same composition in Google's dp-accounting RDP accountant (an independent implementation)."""
    acc = rdp.RdpAccountant(orders=[1 + x / 10 for x in range(1, 100)] + list(range(12, 200)) + [256, 512, 1024])
    for sigma, q, steps in history:
        event = dp_event.GaussianDpEvent(sigma) if q == 1 else dp_event.PoissonSampledDpEvent(
            q, dp_event.GaussianDpEvent(sigma))
        acc.compose(event, steps)
    return acc.get_epsilon(delta)


def _independent_pld(history, delta):
    acc = pld.PLDAccountant(value_discretization_interval=1e-3)
    for sigma, q, steps in history:
        event = dp_event.GaussianDpEvent(sigma) if q == 1 else dp_event.PoissonSampledDpEvent(
            q, dp_event.GaussianDpEvent(sigma))
        acc.compose(event, steps)
    return acc.get_epsilon(delta)


# (history, δ, ε pinned from Opacus RDP with synth's orders)
PINNED = [
    ([(1.0, 0.01, 1000)], 1e-5, 2.1013652716),
    ([(8.0, 1.0, 1)], 1e-6, 0.5451244326),
]


@pytest.mark.parametrize("history,delta,expected", PINNED)
def test_epsilon_pinned_to_known_values(history, delta, expected):
    assert compose_epsilon(history, delta) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("history", [
    [(1.1, 0.05, 300)],
    [(30.0, 1.0, 4), (1.3, 0.1, 500)],  # preprocessing releases + DP-SGD, as fit composes them
    [(0.8, 0.2, 50)],
])
def test_rdp_agrees_with_independent_accountants(history):
    delta = 1e-5
    ours = compose_epsilon(history, delta)
    assert ours == pytest.approx(_independent_rdp(history, delta), rel=0.02)
    # PLD is tighter than RDP: it must not certify a larger ε than our RDP bound
    assert _independent_pld(history, delta) <= ours * 1.01


def test_calibrated_sigma_meets_target_with_prior_mechanisms():
    prior = [(20.0, 1.0, 3)]
    sigma = calibrate_sigma(1.0, 1e-5, 0.1, 200, prior=prior)
    eps = compose_epsilon(prior + [(sigma, 0.1, 200)], 1e-5)
    assert 0.99 <= eps <= 1.0
    assert compose_epsilon(prior + [(sigma * 0.99, 0.1, 200)], 1e-5) > 1.0  # smallest such σ


def test_calibrate_refuses_when_prior_spends_everything():
    with pytest.raises(ValueError):
        calibrate_sigma(0.5, 1e-5, 0.1, 10, prior=[(0.5, 1.0, 10)])


def test_ledger_round_trip_and_no_guarantee():
    led = Ledger(1.0, 1e-5, 100, [Mechanism("label", 9.0, 1.0, 1), Mechanism("dp_sgd", 1.2, 0.1, 100)],
                 delta_threshold=1e-6)
    d = led.to_dict()
    assert d["epsilon"] == pytest.approx(compose_epsilon([(9.0, 1.0, 1), (1.2, 0.1, 100)], 9e-6))
    assert Ledger.from_dict(d).to_dict() == d
    inf = Ledger(math.inf, 1e-5, 100, [Mechanism("dp_sgd", 0.0, 0.1, 100)])
    assert inf.to_dict()["epsilon"] is None
    assert inf.to_dict()["guarantee"].startswith("none")
    assert compose_epsilon([(0.0, 0.1, 10)], 1e-5) == math.inf


def test_the_epsilon_curve_equals_composing_the_history_afresh():
    from synth.privacy.ledger import EpsilonCurve, compose_epsilon

    prior = [(2.0, 1.0, 3), (1.5, 1.0, 1), (4.0, 0.5, 0)]
    curve = EpsilonCurve(prior, 0.9, 0.02, 1e-5)
    for steps in (0, 1, 37, 300):
        assert curve.at(steps) == pytest.approx(compose_epsilon(prior + [(0.9, 0.02, steps)], 1e-5), rel=1e-12)
    assert EpsilonCurve([], 0.9, 0.02, 1e-5).at(0) == 0.0
    assert math.isinf(EpsilonCurve(prior, 0.0, 0.02, 1e-5).at(5))
