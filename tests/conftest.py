"""Shared fixtures: a small mixed trial table with missing values, and its public metadata."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # one thread per test worker: the workers already fill the cores
    torch.set_num_threads(1)

from bench.dev.trial import FAST, TRIAL_META, make_trial  # noqa: F401 - the tests' shared trial
from synth.schema.metadata import Metadata


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
    from synth.release.domain import build_domain
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


def load_bench(name: str):
    """``bench.<name>`` (e.g. ``common``, ``dev.audit``) as a module: the benchmarks' own splits and
    audits, tested where they run."""
    import importlib

    return importlib.import_module(f"bench.{name}")


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
