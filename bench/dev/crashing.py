"""``kill -9`` at a moment's notice: shared by tests/test_crash.py and bench/dev/fuzz.py.

:func:`kill_after` runs ``python -m synth ...`` and kills it with SIGKILL after ``delay``
seconds (or lets it finish). The checks say what a user could find afterwards that breaks the
promise: a partial model or CSV under its real name, a CSV without its ``.privacy.json``, or a
statement that describes another CSV.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from synth import Synthesizer, SynthError


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def kill_after(args: list[str], delay: float, cwd: Path) -> bool:
    """Run the CLI; SIGKILL it after ``delay`` s. True when it was killed before it ended."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "synth", *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def model_problem(path: Path, before: str | None) -> str | None:
    """None when ``path`` is absent, unchanged, or a complete model that loads."""
    now = sha256(path)
    if now is None or now == before:
        return None
    try:
        Synthesizer.load(path, device="cpu")
    except SynthError as exc:
        return f"a partial model file: {exc}"
    return None


def csv_problem(path: Path) -> str | None:
    """None when there is no CSV, or the CSV has its own complete statement beside it."""
    statement = Path(f"{path}.privacy.json")
    if not path.exists():
        return None
    if not statement.exists():
        return "a CSV without its .privacy.json"
    try:
        doc = json.loads(statement.read_text())
    except json.JSONDecodeError:
        return "a partial .privacy.json"
    if doc.get("csv_sha256") != sha256(path):
        return "a .privacy.json that describes another CSV"
    with open(path, "rb") as f:
        rows = sum(1 for _ in f) - 1
    if rows != doc["rows"]:
        return f"a CSV of {rows} rows, its statement says {doc['rows']}"
    return None
