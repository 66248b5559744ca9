"""The label's own table on scheduled slots (synth.privacy.label_table)."""

import copy

import numpy as np
import pytest

from synth import Synthesizer
from synth.privacy.class_sizes import NoisyCounts
from synth.privacy.label_table import pooled
from tests.helpers.visits import SEQ_META, make_visits


def test_pooling_keeps_an_exact_release_and_weights_by_inverse_variance():
    exact, noisy = NoisyCounts(np.array([3.0, 7.0]), 0.0), NoisyCounts(np.array([30.0, -5.0]), 10.0)
    assert pooled(noisy, exact) is exact and pooled(exact, noisy) is exact
    out = pooled(NoisyCounts(np.array([10.0, 0.0]), 1.0), NoisyCounts(np.array([0.0, 10.0]), 2.0))
    np.testing.assert_allclose(out.counts, [8.0, 2.0])  # weights 1 and 1/4
    assert out.sigma == pytest.approx((1 + 1 / 4) ** -0.5)


def test_pooled_error_matches_its_sigma_by_simulation():
    """Slow, obvious check: the pooled estimate's spread is the σ it claims, below either release's."""
    rng = np.random.default_rng(0)
    truth, s1, s2 = np.array([28.0, 8.0]), 69.0, 10.0
    draws = [pooled(NoisyCounts(truth + rng.normal(0, s1, 2), s1), NoisyCounts(truth + rng.normal(0, s2, 2), s2))
             for _ in range(4000)]
    errors = np.array([d.counts for d in draws]) - truth
    claimed = draws[0].sigma
    assert claimed < s2
    np.testing.assert_allclose(errors.std(axis=0), claimed, rtol=0.05)
    np.testing.assert_allclose(errors.mean(axis=0), 0, atol=4 * claimed / np.sqrt(4000))


def _scheduled(schedule: bool) -> tuple[dict, object]:
    meta = copy.deepcopy(SEQ_META)
    df = make_visits(40)
    df = df[df.groupby("pid").cumcount() < 3].assign(day=lambda d: d.groupby("pid").cumcount() * 30)
    meta["synth_sequence"] = {"static_columns": ["arm", "age"], "max_visits": 3}
    if schedule:
        meta["synth_sequence"]["schedule"] = [0, 30, 60]
    return meta, df.reset_index(drop=True)


@pytest.mark.parametrize("schedule", [True, False])
def test_the_label_table_is_released_on_slots_only_and_in_the_ledger(schedule):
    meta, df = _scheduled(schedule)
    s = Synthesizer(epsilon=1.0, label="arm", epochs=1, seed=0).fit(df, meta)
    names = [m.name for m in s.ledger.mechanisms]
    assert ("marginals:label" in names) == schedule
    if schedule:  # at the label stage's σ, released with it
        sigma = {m.name: m.noise_multiplier for m in s.ledger.mechanisms}
        stage = [v for k, v in sigma.items() if k.startswith("marginals:label x column") or k == "marginals:column"]
        assert stage and sigma["marginals:label"] == pytest.approx(stage[0])
