"""Shared fixtures: a small mixed trial table with missing values, and its public metadata."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per test worker: the workers already fill the cores
    torch.set_num_threads(1)

from synth.schema.metadata import Metadata

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


def lopsided_trial(n: int = 2000, rare: int = 50) -> pd.DataFrame:
    """make_trial(n) whose arm and sex each have one value held by only ``rare`` patients."""
    df = make_trial(n)
    df["arm"], df["sex"] = "drug", "f"
    df.loc[:rare - 1, "arm"], df.loc[n - rare:, "sex"] = "placebo", "m"
    return df


def encoded_trial(meta: Metadata, n: int = 120, epsilon: float = 1.0, heavy: bool = False):
    """``make_trial(n)`` through the DP domain and encoder, labelled by arm: (frame, encoder, x,
    y, ledger, domain). ``heavy`` adds a boolean column that depends on weight (a pair to find),
    to the data and to ``meta``."""
    from synth.privacy.domain import build_domain
    from synth.encode.table import TableEncoder
    from synth.privacy.ledger import Ledger
    from synth.schema.validate import coerce_frame

    df = make_trial(n)
    if heavy:
        df["heavy"] = df["weight"] > 80
        meta.columns["heavy"] = {"sdtype": "boolean", "range_is_nullable": False}
    frame = coerce_frame(df, meta, "trial")
    ledger = Ledger(epsilon, 1e-5, len(frame))
    domain = build_domain(frame, meta, "arm", ledger, np.random.default_rng(0))
    enc = TableEncoder(domain)
    y = frame["arm"].map({k: i for i, k in enumerate(domain.label.categories)}).to_numpy()
    return frame, enc, enc.encode(frame), y, ledger, domain


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


def load_bench(name: str):
    """bench/<name>.py as a module (the benchmarks' own splits and audits, tested where they run)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def trial() -> pd.DataFrame:
    return make_trial()


@pytest.fixture
def meta() -> Metadata:
    return Metadata.load(TRIAL_META)


@pytest.fixture
def meta_file(tmp_path):
    import json

    path = tmp_path / "trial.json"
    path.write_text(json.dumps(TRIAL_META))
    return path


@pytest.fixture
def trial_csv(tmp_path, trial):
    path = tmp_path / "trial.csv"
    trial.to_csv(path, index=False)
    return path


@pytest.fixture(autouse=True)
def wide_cli_consoles(monkeypatch):
    """The CLI's rich consoles at 200 columns: their width is otherwise read from the terminal
    and the environment, which differ between a test worker and a terminal (rich wraps table
    cells at 80 columns, and the tests read whole lines)."""
    from rich.console import Console

    import synth.cli as cli

    monkeypatch.setattr(cli, "out", Console(width=200))
    monkeypatch.setattr(cli, "err", Console(stderr=True, width=200))
