"""The accountant's seam: mechanisms by kind, one implemented pairing, everything else refused."""

import math

import pytest

from synth.errors import SynthError
from synth.privacy.accountant import (EXPONENTIAL_AS_GAUSSIAN, GAUSSIAN, RDP, SUBSAMPLED_GAUSSIAN, Accountant,
                                      compose_epsilon)
from synth.privacy.ledger import Ledger, Mechanism


def _ledger() -> Ledger:
    return Ledger(1.0, 1e-5, 500, [Mechanism("count:patients", 40.0, 1.0, 1),
                                   Mechanism("selection:pairs", 9.0, 1.0, 3, kind=EXPONENTIAL_AS_GAUSSIAN),
                                   Mechanism("dp_sgd:discriminator", 1.1, 0.02, 300)])


@pytest.mark.parametrize("method", ["pld", "prv", "gdp"])
def test_an_accountant_other_than_rdp_is_refused(method):
    with pytest.raises(SynthError, match=f"accountant '{method}' is not implemented"):
        Accountant(method=method)


def test_an_adjacency_other_than_add_remove_is_refused():
    with pytest.raises(SynthError, match="adjacency 'replace one patient' is not implemented"):
        Accountant(adjacency="replace one patient")


def test_a_kind_the_accountant_cannot_compose_is_refused_when_recorded():
    ledger = _ledger()
    with pytest.raises(SynthError, match="cannot compose a mechanism of kind 'laplace'"):
        ledger.add(Mechanism("sums:other", 2.0, 1.0, 1, kind="laplace"))
    assert len(ledger.mechanisms) == 3  # nothing recorded
    ledger.mechanisms.append(Mechanism("sums:other", 2.0, 1.0, 1, kind="laplace"))  # past the check: still refused
    with pytest.raises(SynthError, match="kind 'laplace'"):
        ledger.epsilon()


def test_kinds_are_derived_again_from_a_model_files_ledger():
    ledger = _ledger()
    assert [m.kind for m in ledger.mechanisms] == [GAUSSIAN, EXPONENTIAL_AS_GAUSSIAN, SUBSAMPLED_GAUSSIAN]
    stored = ledger.to_dict()
    assert all("kind" not in m for m in stored["mechanisms"])  # the model format is unchanged
    again = Ledger.from_dict(stored)
    assert [m.kind for m in again.mechanisms] == [m.kind for m in ledger.mechanisms]
    assert again.epsilon() == ledger.epsilon()


def test_the_ledgers_epsilon_is_the_composition_of_its_history():
    ledger = _ledger()
    assert ledger.epsilon() == compose_epsilon(ledger.history(), ledger.accountant_delta)
    assert RDP.epsilon(ledger.mechanisms[2:], 1e-5) == compose_epsilon([(1.1, 0.02, 300)], 1e-5)
    assert ledger.to_dict()["accountant"] == "opacus rdp (composition of Gaussian mechanisms)"


def test_sigma_and_curve_agree_with_composition():
    prior = _ledger().history()[:2]  # the releases before DP-SGD
    sigma = RDP.sigma(1.5, 1e-5, 0.02, 100, prior=prior)
    assert compose_epsilon(prior + [(sigma, 0.02, 100)], 1e-5) <= 1.5
    assert RDP.curve(prior, sigma, 0.02, 1e-5).at(100) == pytest.approx(
        compose_epsilon(prior + [(sigma, 0.02, 100)], 1e-5), rel=1e-12)


class _Watcher:
    def __init__(self, history):
        self.history = history


def test_a_run_the_opacus_accountant_saw_differently_is_refused():
    assert RDP.steps_seen(_Watcher([(1.1, 0.02, 10)]), 10, 1.1, 0.02) == 10
    for history in ([(1.1, 0.02, 9)], [(1.0, 0.02, 10)], [(1.1, 0.03, 10)]):
        with pytest.raises(RuntimeError, match="accountant saw"):
            RDP.steps_seen(_Watcher(history), 10, 1.1, 0.02)


def test_the_watcher_is_charged_on_every_step_of_the_dp_optimizer():
    import torch
    from opacus.optimizers import DPOptimizer

    p = torch.nn.Parameter(torch.zeros(2))
    opt = DPOptimizer(torch.optim.SGD([p], lr=0.1), noise_multiplier=1.3, max_grad_norm=1.0, expected_batch_size=4)
    watcher = RDP.watch(opt, 0.25)
    for _ in range(3):
        opt.zero_grad()
        p.grad_sample = torch.ones(4, 2)
        p.grad = torch.zeros(2)
        opt.step()
    assert RDP.steps_seen(watcher, 3, 1.3, 0.25) == 3
    assert not math.isinf(watcher.get_epsilon(1e-5))
