"""The demo's trials resolve through importlib.resources (package data), not a clone's data/ folder."""

import fnmatch
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

import synth
import synth.cli as cli
from synth.cli import app, bundled

ROOT = Path(__file__).resolve().parents[2]
TRIALS = [f"{name}.{ext}" for name in ("actg175", "pbcseq") for ext in ("csv", "json")]


def test_bundled_trials_are_package_data():
    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    package = Path(synth.__file__).resolve().parent
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["synth"]
    for name in TRIALS:
        found = bundled(name)
        assert found.is_file(), name
        with resources.as_file(found) as path:
            assert path.resolve().parent == package / "data"  # inside the package, not the clone's data/
        assert any(fnmatch.fnmatch(f"data/{name}", g) for g in globs), f"{name} is not shipped in the wheel"
        assert (ROOT / "data" / name).resolve() == package / "data" / name  # data/ links to the same file


def test_demo_reads_its_trial_through_bundled(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(cli, "bundled", lambda name: asked.append(name) or resources.files("synth") / "nowhere" / name)
    r = CliRunner().invoke(app, ["demo", "--output-dir", str(tmp_path)])
    assert r.exit_code == 2 and asked == ["actg175.csv"]
    assert "bundled data not found" in r.output and "Traceback" not in r.output
