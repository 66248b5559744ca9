"""A small mixed trial table with missing values and its public metadata: the fixture the tests
fit (tests/conftest.py) and bench/dev/fuzz.py damages model files of."""

from __future__ import annotations

import numpy as np
import pandas as pd

FAST = dict(epochs=2, g_hidden=32, d_hidden=32, noise_dim=8, pretrain_steps=100)


def make_trial(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["placebo", "drug"], size=n)
    age = rng.integers(20, 80, size=n)
    weight = np.round(rng.normal(75, 12, size=n), 2)
    weight[rng.random(n) < 0.15] = np.nan
    sex = rng.choice(["f", "m"], size=n).astype(object)
    sex[rng.random(n) < 0.1] = None
    flag = rng.random(n) < 0.3
    visit = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 700, size=n), unit="D")
    return pd.DataFrame({"pid": np.arange(1000, 1000 + n), "age": age, "weight": weight, "sex": sex,
                         "smoker": flag, "visit": visit.strftime("%Y-%m-%d"), "arm": arm})


TRIAL_META = {
    "METADATA_SPEC_VERSION": "V1",
    "tables": {"trial": {"primary_key": "pid", "columns": {
        "pid": {"sdtype": "id"},
        "age": {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 18, "range_max": 90,
                "range_is_nullable": False},
        "weight": {"sdtype": "numerical", "computer_representation": "Float", "range_min": 30, "range_max": 150,
                   "range_is_nullable": True},
        "sex": {"sdtype": "categorical", "range_values": ["f", "m"], "range_is_nullable": True},
        "smoker": {"sdtype": "boolean", "range_is_nullable": False},
        "visit": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d", "range_min": "2019-01-01",
                  "range_max": "2022-12-31", "range_is_nullable": False},
        "arm": {"sdtype": "categorical", "range_values": ["drug", "placebo"], "range_is_nullable": False},
    }}},
}
