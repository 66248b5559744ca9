"""Adding a column type touches at most three files (issue 50): the registry
(``schema/sdtypes.py``), its coercion (``schema/validate.py``) and its decoding
(``encode/table.py``). Everywhere else an sdtype is asked about through the registry's predicates
(``is_numeric``, ``is_number``, ``is_datetime``, ``is_boolean``, ...), never by comparing its name.

The scan flags a comparison with an sdtype name (``== "datetime"``, ``!= "numerical"``,
``in ("numerical", "boolean")``, ``case "pii"``) in any module of ``synth/``. A comparison of a
``kind`` (a ColumnDomain's or the registry's: "numerical" or "categorical", a fixed two-value
field) is not an sdtype check and is left alone.
"""

import re
from pathlib import Path

import synth
from synth.schema.sdtypes import SDTYPES

PACKAGE = Path(synth.__file__).parent
ALLOWED = {"schema/sdtypes.py", "schema/validate.py", "encode/table.py"}
# Left in modules other engineers were changing when the check came in (issue 50): none now. A
# count may only go down; a new file or a higher count fails.
KNOWN: dict[str, int] = {}

_NAME = "|".join(map(re.escape, SDTYPES))
_KIND = re.compile(r"\bkind(?:_of\([^()]*(?:\([^()]*\))?[^()]*\))?\s*[!=]=\s*\"\w+\"")  # kind == "...": not an sdtype
_CHECKS = [
    re.compile(rf"[!=]=\s*\"({_NAME})\""),
    re.compile(rf"\"({_NAME})\"\s*[!=]="),
    re.compile(rf"\bin\s*[(\[{{][^)\]}}]*\"({_NAME})\""),
    re.compile(rf"\bcase\s+\"({_NAME})\""),
]


def sdtype_checks(text: str) -> list[str]:
    """The lines of ``text`` that compare something with an sdtype name."""
    out = []
    for line in text.splitlines():
        code = _KIND.sub("", line.split("#", 1)[0])
        if any(p.search(code) for p in _CHECKS):
            out.append(line.strip())
    return out


def test_the_scan_finds_sdtype_comparisons_and_leaves_kinds_alone():
    assert sdtype_checks('    if spec["sdtype"] == "datetime":')
    assert sdtype_checks('    if meta.sdtype(c) != "numerical":')
    assert sdtype_checks('    if "pii" == sdtype:')
    assert sdtype_checks('    if sdtype in ("numerical", "categorical", "boolean"):')
    assert sdtype_checks('        case "id":')
    assert not sdtype_checks('    if col.kind == "numerical":')
    assert not sdtype_checks('    if kind_of(meta.sdtype(c)) == "categorical":')
    assert not sdtype_checks('    spec = {"sdtype": "id"}')
    assert not sdtype_checks('    x = 1  # == "numerical" in a comment')


def test_no_sdtype_name_is_compared_outside_the_three_files():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in ALLOWED:
            continue
        lines = sdtype_checks(path.read_text())
        if lines:
            found[rel] = lines
    over = {rel: lines for rel, lines in found.items() if len(lines) > KNOWN.get(rel, 0)}
    assert not over, ("sdtype names compared outside schema/sdtypes.py, schema/validate.py and encode/table.py; "
                      f"ask the registry (synth.schema.sdtypes' predicates) instead: {over}")
