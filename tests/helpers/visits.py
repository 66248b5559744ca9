"""Visit sequences for tests: a small random trial of visits and its metadata."""

import copy

import numpy as np
import pandas as pd

FAST = dict(epochs=2, g_hidden=32, d_hidden=32, noise_dim=8, pretrain_steps=100)


def make_visits(n=40, seed=0, max_len=5):
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(100, 100 + n):
        k = int(rng.integers(1, max_len + 1))
        arm, age = rng.choice(["a", "b"]), int(rng.integers(30, 70))
        days = np.sort(rng.choice(np.arange(0, 400), size=k, replace=False))
        for d in days:
            lab = round(float(rng.normal(5, 1)), 3) if rng.random() > 0.3 else np.nan
            rows.append({"pid": pid, "arm": arm, "age": age, "day": int(d), "lab": lab,
                         "stage": rng.choice(["1", "2", None])})
    return pd.DataFrame(rows)


SEQ_META = {"METADATA_SPEC_VERSION": "V1", "tables": {"visits": {
    "sequence_key": "pid", "sequence_index": "day", "columns": {
        "pid": {"sdtype": "id"},
        "arm": {"sdtype": "categorical", "range_values": ["a", "b"], "range_is_nullable": False},
        "age": {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 18, "range_max": 90,
                "range_is_nullable": False},
        "day": {"sdtype": "numerical", "computer_representation": "Int64", "range_min": 0, "range_max": 500},
        "lab": {"sdtype": "numerical", "range_min": 0, "range_max": 10, "range_is_nullable": True},
        "stage": {"sdtype": "categorical", "range_values": ["1", "2"], "range_is_nullable": True}}}},
    "synth_sequence": {"static_columns": ["arm", "age"], "max_visits": 5}}


def seq_meta(**seq):
    m = copy.deepcopy(SEQ_META)
    m["synth_sequence"].update(seq)
    return m


def with_follow_up_end(df: pd.DataFrame, rng_seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Visits plus a static 'stop' day at or after each patient's last visit, named as follow_up_end."""
    rng = np.random.default_rng(rng_seed)
    last = df.groupby("pid")["day"].transform("max")
    extra = df["pid"].map(dict(zip(df["pid"].unique(), rng.integers(0, 100, df["pid"].nunique()))))
    m = seq_meta(static_columns=["arm", "age", "stop"], follow_up_end="stop")
    m["tables"]["visits"]["columns"]["stop"] = {"sdtype": "numerical", "computer_representation": "Int64",
                                                "range_min": 0, "range_max": 500, "range_is_nullable": False}
    return df.assign(stop=last + extra), m
