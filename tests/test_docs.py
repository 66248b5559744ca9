"""The user docs work as written: every block marked runnable in README.md and docs/, and the
example notebook, run on the bundled data (slow suite); the default suite checks they parse."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(bash|python) runnable\n(.*?)^```", re.M | re.S)


def runnable_blocks(page: Path) -> list[tuple[str, str]]:
    """(language, code) of each fenced block whose info string is ``bash runnable`` or ``python runnable``."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def _workdir(tmp_path: Path) -> Path:
    """A folder laid out like a clone (data/ and examples/), so commands run as a user types them."""
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def test_docs_exist_and_every_runnable_block_parses():
    names = {p.name for p in PAGES}
    assert {"README.md", "metadata.md", "sequences.md", "privacy.md", "evaluation.md", "model-file.md"} <= names
    assert len(runnable_blocks(ROOT / "README.md")) >= 2
    for page in PAGES:
        for language, code in runnable_blocks(page):
            if language == "python":
                ast.parse(code)
            else:
                subprocess.run(["bash", "-n"], input=code, text=True, check=True)
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_runnable_blocks_run(page, tmp_path):
    blocks = runnable_blocks(page)
    if not blocks:
        pytest.skip("no runnable block")
    work = _workdir(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(work)
    try:
        for language, code in blocks:
            if language == "bash":
                done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env, text=True,
                                      capture_output=True)
                assert done.returncode == 0, f"{page.name}:\n{code}\n{done.stderr[-2000:]}"
            else:
                exec(compile(code, f"{page.name} block", "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        os.chdir(cwd)


@pytest.mark.slow
def test_quickstart_notebook_runs_headless(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    work = _workdir(tmp_path)
    shutil.copytree(ROOT / "examples", work / "examples")
    notebook = nbformat.read(work / "examples" / "quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code")  # committed without outputs
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(work / "examples")}}).execute()
    text = "".join(str(o.get("data", o.get("text", ""))) for c in notebook.cells if c.cell_type == "code"
                   for o in c.outputs)
    assert "add/remove one patient" in text and "FOR THE DATA HOLDER ONLY" in text
    assert (work / "examples" / "synthetic.csv.privacy.json").is_file()


def test_model_file_doc_names_the_current_format_version():
    from synth.io.modelfile import FORMAT_VERSION, READABLE_VERSIONS

    text = (ROOT / "docs" / "model-file.md").read_text()
    stated = re.search(r'^\| `format`, `format_version` \| `"synth-model"`, (\d+) \|$', text, re.M)
    assert stated and int(stated.group(1)) == FORMAT_VERSION
    newest = re.search(r"^## Versions\n.*?^\| (\d+) \|", text, re.M | re.S)
    assert newest and int(newest.group(1)) == FORMAT_VERSION  # the table of versions starts at the current one
    assert f"versions 1–{max(READABLE_VERSIONS) - 1} still load" in text
