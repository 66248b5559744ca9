"""An instant command line: importing synth.cli (or synth) loads no torch, scipy or pandas, so
`synth --help` and a mistyped path are answered before any of them loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "scipy", "pandas", "opacus", "sklearn", "sdmetrics")


def _python(code: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def _loaded(after: str) -> list[str]:
    done = _python(f"{after}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    return [m for m in done.stdout.strip().split(",") if m]


def test_importing_the_cli_loads_no_torch_scipy_or_pandas():
    assert _loaded("import synth.cli") == []


def test_importing_synth_is_cheap_and_its_public_names_load_on_use():
    assert _loaded("import synth\nfrom synth import SynthError, SynthWarning") == []
    assert "torch" in _loaded("from synth import Synthesizer, Metadata\nassert Synthesizer.__name__ == 'Synthesizer'")


def test_synth_help_runs():
    done = subprocess.run([sys.executable, "-m", "synth", "--help"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("fit", "sample", "info", "demo", "evaluate", "split", "metadata"):
        assert f" {command} " in done.stdout


def test_a_missing_path_is_refused_before_torch_loads(tmp_path):
    code = """
import sys
from synth.cli import app
try:
    app(sys.argv[1:], prog_name="synth")
except SystemExit as exc:
    print(exc.code, ",".join(m for m in ("torch", "scipy", "pandas") if m in sys.modules))
"""
    meta = str(ROOT / "data" / "actg175.json")
    for args, expect in [(["fit", str(tmp_path / "nope.csv"), "-m", meta, "-o", "m"], "CSV file"),
                         (["fit", str(ROOT / "data" / "actg175.csv"), "-m", str(tmp_path / "no.json"), "-o", "m"],
                          "metadata file"),
                         (["fit", "a" * 300 + ".csv", "-m", meta, "-o", "m"], "cannot be opened (File name too long)"),
                         (["fit", "x.csv", "-m", meta, "-o", "m", "--epsilon", "0"], "epsilon must be > 0"),
                         (["fit", "x.csv", "-m", meta, "-o", "m", "--device", "tpu"], "device must be"),
                         (["fit", "x.csv", "-m", meta, "-o", "m", "--threads", "0"], "--threads must be"),
                         (["sample", str(tmp_path / "no.synth"), "-n", "5", "-o", "x.csv"], "model file"),
                         (["sample", str(tmp_path / "no.synth"), "-n", "5", "-o", "x.csv", "--device", "tpu"],
                          "model file"),
                         (["info", str(tmp_path / "no.synth")], "model file"),
                         (["evaluate", "--real", str(tmp_path / "r.csv"), "--synthetic", "s.csv", "-m", meta,
                           "-o", "r.html"], "CSV file"),
                         (["metadata", "infer", str(tmp_path / "nope.csv"), "-o", "m.json"], "CSV file"),
                         (["evaluate", "--real", str(ROOT / "data" / "actg175.csv"), "--synthetic",
                           str(ROOT / "data" / "actg175.csv"), "-m", str(tmp_path / "no.json"), "-o", "r.html"],
                          "metadata file"),
                         (["split", str(tmp_path / "nope.csv"), "-o", "a.csv", "--holdout", "b.csv"], "CSV file"),
                         (["metadata", "review", str(tmp_path / "no.json"), "nope.csv"], "metadata file"),
                         (["metadata", "review", meta, str(tmp_path / "nope.csv")], "CSV file"),
                         (["metadata", "review", meta, "x.csv", "--epsilon", "0"], "--epsilon must be > 0"),
                         (["metadata", "export-sdv", str(tmp_path / "no.json"), "-o", "m.json"], "metadata file")]:
        done = _python(code, *args)
        assert done.stdout.strip() == "2", (args, done.stdout, done.stderr)
        assert done.stderr.startswith("error:") and expect in done.stderr, (args, done.stderr)
