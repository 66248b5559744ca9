"""The package's imports follow the flow of a fit: no module imports from a later stage.

The stages, in order (a module may import from its own stage and the ones above it):

1. **base** — ``errors``, ``options``, ``threads``, ``atomic``, ``lazy``: shared by every folder.
2. **schema** — ``synth/schema/``: the table's public description.
3. **accountant and domain** — ``synth/privacy/``'s ledger, noise source, mechanisms (with the
   audit's hook on them) and the Domain's public structure
   (``privacy/{__init__,randomness,global_stream,accountant,ledger,mechanisms,observe,domain}.py``): the
   encoders are built from a Domain.
4. **encode** — ``synth/encode/``: reversible encoders built from a Domain.
5. **post-processing** — the rest of ``synth/privacy/``: what the tables are (a table is a tuple of
   the encoder's cell blocks, so it comes after the encoders), which to release (read off the
   schema), and what is done with releases only (resolution's groups, class sizes, smoothing,
   shrinkage, combining), the audit's statistics and the neighbour harness. Nothing here reads
   real data of itself: only the counting helpers (``TableSpec.count``, ``cell_counts``) are
   called on patients' rows, by the releases.
6. **releases** — ``synth/release/``: every module that reads real data during a fit (the
   domain's estimates and the patient count, the visit layout's preparation, the tables, pair
   selection, the sums by arm, the shards) and the metadata review; what leaves it is released
   values and public metadata only.
7. **distributed** — ``synth/distributed/``: the process group that training and the releases'
   sums run over.
8. **training** — ``synth/models/``: the networks, DP-SGD, the marginal loss.
9. **model file** — ``synth/io/``: the model file, memory checks, split.
10. **sampling** — ``synth/sample/draw.py`` and ``reached.py``: rows from the generator (post-processing).
11. **CSV** — the rest of ``synth/sample/``: precision, ``arrow_{rows,cells,visits}.py``, ``csv_out.py``
    (the synthetic CSV) and ``face.py`` (the synthesizer's sampling methods, which draw and write).
12. **evaluation** — ``synth/eval/`` and ``synth/notebook.py`` (HTML views of a fitted model
    and an evaluation report; it imports nothing from synth).
13. **faces** — ``preparation.py`` (a fit's first half: it hands the releases to the training's
    marginal loss), ``synthesizer.py``, ``cli/``, the package itself and ``__main__``.

Every import counts: module level, inside functions and under ``TYPE_CHECKING``.
"""

import ast
from pathlib import Path

import synth

PACKAGE = Path(synth.__file__).resolve().parent
STAGES = ["base", "schema", "accountant and domain", "encode", "post-processing", "releases", "distributed",
          "training", "model file", "sampling", "CSV", "evaluation", "faces"]
# A module's stage: its own entry, else its nearest package's.
STAGE_OF = {
    "synth": "faces", "synth.__main__": "faces", "synth.cli": "faces", "synth.synthesizer": "faces",
    "synth.preparation": "faces",
    "synth.errors": "base", "synth.options": "base", "synth.threads": "base", "synth.atomic": "base",
    "synth.lazy": "base",
    "synth.schema": "schema",
    **{f"synth.privacy{m}": "accountant and domain"
       for m in ("", ".randomness", ".global_stream", ".accountant", ".ledger", ".mechanisms", ".observe", ".domain")},
    "synth.encode": "encode",
    "synth.privacy.": "post-processing",  # every other module of synth/privacy/
    "synth.release": "releases",
    "synth.distributed": "distributed",
    "synth.models": "training",
    "synth.io": "model file",
    "synth.sample.draw": "sampling", "synth.sample.reached": "sampling",
    "synth.sample": "CSV",  # every other module of synth/sample/
    "synth.eval": "evaluation", "synth.notebook": "evaluation",
}
# Arrows against the flow still to be removed (none left). Add one only with the reason beside it.
KNOWN: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> int:
    if module in STAGE_OF:
        return STAGES.index(STAGE_OF[module])
    package = module.rsplit(".", 1)[0]
    if f"{package}." in STAGE_OF:
        return STAGES.index(STAGE_OF[f"{package}."])
    return _stage(package)


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The synth modules one file imports (``from synth.x import y`` names y when y is a module)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found |= {f"{base}.{a.name}" if _is_module(f"{base}.{a.name}") else base for a in node.names}
    return {m for m in found if m == "synth" or m.startswith("synth.")}


def _arrows() -> set[tuple[str, str]]:
    return {(_module_name(p), m) for p in sorted(PACKAGE.rglob("*.py")) for m in _imports(p)}


def test_every_module_has_a_stage():
    for path in PACKAGE.rglob("*.py"):
        assert 0 <= _stage(_module_name(path)) < len(STAGES)


def test_no_import_runs_against_the_flow():
    against = sorted(f"{a} ({STAGE_OF.get(a) or STAGES[_stage(a)]}) imports {b} ({STAGES[_stage(b)]})"
                     for a, b in _arrows() - KNOWN if _stage(b) > _stage(a))
    assert not against, "imports against the flow (tests/test_import_order.py):\n" + "\n".join(against)


def test_the_check_sees_an_arrow_against_the_flow():
    assert ("synth.encode.inequalities", "synth.privacy.domain") in _arrows()  # an arrow along the flow, found
    # the arrow the move removed (schema's inequalities importing the encoder) would run against it
    assert _stage("synth.encode.table") > _stage("synth.schema.inequalities")
    assert _stage("synth.schema.metadata") < _stage("synth.privacy.domain") < _stage("synth.encode.table")
    assert _stage("synth.encode.table") < _stage("synth.privacy.marginals") < _stage("synth.release.marginals")
    assert _stage("synth.release.marginals") < _stage("synth.models.train")
    assert _stage("synth.privacy.domain") < _stage("synth.release.domain") < _stage("synth.preparation")
    assert _stage("synth.models.train") < _stage("synth.io.modelfile") < _stage("synth.sample.draw")
    assert _stage("synth.sample.draw") < _stage("synth.sample.csv_out") < _stage("synth.eval.report")
    assert _stage("synth.sample.draw") < _stage("synth.sample.face") < _stage("synth.synthesizer")
