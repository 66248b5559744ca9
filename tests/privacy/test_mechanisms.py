import numpy as np
import pytest

from synth.errors import SynthError
from synth.privacy.mechanisms import discover_categories, dp_bounds, noisy_counts


def test_noisy_counts_have_requested_spread():
    rng = np.random.default_rng(0)
    noisy = noisy_counts(np.zeros(20000), 3.0, rng)
    assert noisy.std() == pytest.approx(3.0, rel=0.03)
    assert noisy_counts(np.array([4, 5]), 0.0, rng).tolist() == [4, 5]


def test_value_held_by_one_patient_is_never_released():
    rng = np.random.default_rng(1)
    common = np.repeat(["a", "b"], 300)
    singletons = np.array([f"patient-{i}" for i in range(2000)])  # each held by one patient
    keys = discover_categories(np.concatenate([common, singletons]), sigma=4.0, delta_column=1e-6, rng=rng)
    assert keys == ["a", "b"]


def test_exact_discovery_without_noise():
    assert discover_categories(np.array(["x", "y", "x"]), 0.0, 0.0, np.random.default_rng(0)) == ["x", "y"]


def test_dp_bounds_bracket_the_bulk_of_the_data():
    rng = np.random.default_rng(2)
    values = rng.normal(120, 15, size=3000)
    lo, hi = dp_bounds(values, sigma=5.0, rng=rng, column="sbp")
    assert 60 <= lo <= np.quantile(values, 0.02)
    assert np.quantile(values, 0.98) <= hi <= 200


def test_dp_bounds_too_few_patients_is_a_user_error():
    with pytest.raises(SynthError, match="'x'.*range_min"):
        dp_bounds(np.array([1.0, 2.0]), sigma=500.0, rng=np.random.default_rng(3), column="x")


def test_dp_bounds_keep_the_coarse_range_when_only_a_point_mass_survives_the_fine_noise():
    rng = np.random.default_rng(4)
    values = np.concatenate([np.full(300, 1.0), rng.uniform(1.0, 1.5, size=500)])  # creatinine-like
    assert dp_bounds(values, sigma=50.0, rng=np.random.default_rng(5), column="creat") == (1.0, 2.0)  # the 1-2-5 bin
    lo, hi = dp_bounds(values, sigma=2.0, rng=np.random.default_rng(5), column="creat")  # little noise: refined
    assert lo == 1.0 and 1.48 <= hi <= 1.52


def test_dp_bounds_refine_on_the_values_inside_the_coarse_range_only():
    rng = np.random.default_rng(6)
    # mgus2's creatinine at σ = 150: the coarse bin (0.5, 1] (400) drowns, [1, 2) survives. Clipped into the fine
    # histogram, those 400 plus the point mass at 1.0 would make its first bin the only one kept.
    values = np.concatenate([rng.uniform(0.5, 0.99, size=400), np.full(250, 1.0), rng.uniform(1.0, 1.5, size=600)])
    assert dp_bounds(values, sigma=150.0, rng=np.random.default_rng(7), column="creat") == (1.0, 2.0)
