"""The time-to-event table's arm contrasts shrunk by their noise (synth.privacy.shrinkage)."""

import numpy as np

from synth.encode.table import CellBlock
from synth.privacy.marginals import MarginalTable
from synth.privacy.shrinkage import shrunk_joint, shrunk_parts, shrunk_time_to_event
from synth.schema.analysis import AnalysisDeclaration, TimeToEvent


def _truth(effect: float, n: int = 300) -> np.ndarray:
    """(2 arms, 2 events, 10 time bins) expected counts; arm 1's events earlier by ``effect``."""
    t = np.linspace(0, 1, 10)
    out = np.zeros((2, 2, 10))
    for a in range(2):
        late = np.exp(-(t - 0.6 + effect * a) ** 2 / 0.05)
        out[a, 0] = n * 0.5 * np.full(10, 0.1)
        out[a, 1] = n * 0.5 * late / late.sum()
    return out


def _time_gap(counts: np.ndarray) -> float:
    given = counts[:, 1] / counts[:, 1].sum(axis=1, keepdims=True)
    return float(np.abs(given[1] - given[0]).sum())


def test_a_null_contrast_made_by_the_noise_goes_to_the_pooled_one():
    rng = np.random.default_rng(0)
    truth, sigma = _truth(0.0), 8.0
    gaps_before, gaps_after = [], []
    for _ in range(50):
        noisy = np.clip(truth + rng.normal(0, sigma, truth.shape), 0, None)
        shrunk = shrunk_joint(noisy, sigma)
        gaps_before.append(_time_gap(noisy))
        gaps_after.append(_time_gap(shrunk))
        np.testing.assert_allclose(shrunk.sum(axis=(1, 2)), noisy.sum(axis=(1, 2)))  # each arm's total kept
        assert (shrunk >= 0).all()
    assert np.mean(gaps_after) < 0.35 * np.mean(gaps_before)
    assert np.mean(np.array(gaps_after) < 1e-9) > 0.5  # most often all the way to the pooled one


def test_a_clear_contrast_is_barely_moved():
    rng = np.random.default_rng(1)
    truth, sigma = _truth(0.3, n=20_000), 8.0
    noisy = truth + rng.normal(0, sigma, truth.shape)
    shrunk = shrunk_joint(noisy, sigma)
    assert abs(_time_gap(shrunk) - _time_gap(noisy)) < 0.03 * _time_gap(noisy)


def test_exact_tables_and_one_arm_are_left_alone():
    truth = _truth(0.2)
    np.testing.assert_array_equal(shrunk_joint(truth, 0.0), truth)
    np.testing.assert_array_equal(shrunk_joint(truth[:1], 5.0), truth[:1])


def test_the_weighted_mean_of_the_parts_is_kept():
    parts = np.array([[0.5, 0.5], [0.7, 0.3], [0.4, 0.6]])
    sizes = np.array([100.0, 300.0, 50.0])
    out = shrunk_parts(parts, sizes, np.full(3, 0.01))
    np.testing.assert_allclose(sizes @ out / sizes.sum(), sizes @ parts / sizes.sum())
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_only_the_declared_pair_is_shrunk_and_only_with_the_arm_as_the_label():
    event, time = CellBlock("status", 0, 2), CellBlock("time", 2, 10, ordered=True)
    rng = np.random.default_rng(2)
    noisy = np.clip(_truth(0.0) + rng.normal(0, 8.0, (2, 2, 10)), 0, None)
    pair = MarginalTable((event, time), noisy, sigma=8.0, totals=noisy.sum(axis=(1, 2)))
    other = MarginalTable((time,), noisy[:, 0, :], sigma=8.0)
    declared = AnalysisDeclaration(arm="rx", outcomes=("status",),
                                   time_to_event=(TimeToEvent(time="time", event="status"),))
    out = shrunk_time_to_event([pair, other], declared, "rx")
    assert out[1] is other
    assert _time_gap(out[0].counts) < _time_gap(noisy)
    assert shrunk_time_to_event([pair], declared, "status")[0] is pair
    assert shrunk_time_to_event([pair], None, "rx")[0] is pair
