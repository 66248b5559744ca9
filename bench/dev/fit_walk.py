"""The walk of the metadata through a fit: where ``Metadata`` is read, in order, and how often a later
stage goes back to it (issue 50). Run ``python -m bench.dev.fit_walk`` from the repository root.

It fits the bundled ACTG175 (one row a patient) and PBCSEQ (visits) with the smallest settings the
tests use, then saves the model file, while every read of the fit's ``Metadata`` (an attribute or a
method, looked up on the object ``Metadata.load`` returned) is recorded with the synth/ file of the
frame that reads it. Reads made inside ``Metadata``'s own methods (``synth/schema/metadata.py``,
e.g. ``public_bounds`` reading ``self.columns``) belong to the outer read and are not counted; a
frame outside synth/ (``copy``, ``dataclasses``) is attributed to the nearest synth/ frame below it.

Definitions (the script prints both counts):

- **room** (the issue's "done when"): the synth/ folder of the reading frame — ``schema``,
  ``release``, ``privacy``, ``encode``, ``models``, ``io``, ``sample``, ``eval``, ``cli``,
  ``distributed`` — or, for a top-level module, ``orchestrator`` (``preparation.py``,
  ``synthesizer.py``, the faces that call each stage in turn) or the module's own name
  (``outcome_calibration.py`` is placed with training: it runs on the trained generator).
- **stay**: consecutive reads from the same room, merged.
- **flow** (the order of the rooms): schema 0 → release 1 → privacy 2 → encode 3 → models (train,
  with distributed and outcome_calibration) 4 → io (model file) 5 → sample 6 → eval 7; the base
  modules (errors, options, atomic, threads, lazy) at 0.
- **climb back**: a stay in a flow room placed earlier than the flow room of the stay before it.
  The orchestrator is not on the flow: its stays are counted as stays but are transparent to
  climbs (the next flow room is compared with the last flow room before the orchestrator's stay).
  So the orchestrator reading ``Metadata`` late shows as a stay in the orchestrator, not as a climb;
  a stage that re-reads ``Metadata`` (or calls a schema function that does) after a later stage has
  read it is a climb.

- **the issue's count** (reconstructed; the issue gives no script): rooms are modules (files), and
  a climb back is a move to a module placed earlier, back up the import graph: a module's place is
  its room's in the flow above, the faces (the orchestrator: ``preparation.py``, ``synthesizer.py``)
  last, as in ``tests/test_import_order.py``; so every move from a face to a stage's module counts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import synth
from bench.dev.trial import FAST  # the tests' smallest fit
from synth import Synthesizer
from synth.schema.metadata import Metadata

PACKAGE = Path(synth.__file__).resolve().parent
DATA = PACKAGE.parent / "data"
FLOW = {"schema": 0, "base": 0, "release": 1, "privacy": 2, "encode": 3, "models": 4, "distributed": 4,
        "outcome_calibration": 4, "io": 5, "sample": 6, "eval": 7}
ORCHESTRATOR = "orchestrator"
TOP = {"preparation": ORCHESTRATOR, "synthesizer": ORCHESTRATOR, "__init__": ORCHESTRATOR,
       "outcome_calibration": "outcome_calibration", "errors": "base", "options": "base", "atomic": "base",
       "threads": "base", "lazy": "base", "notebook": "eval"}
INTERNAL = PACKAGE / "schema" / "metadata.py"


@dataclass(frozen=True)
class Read:
    """One read of the metadata: the attribute, and the synth/ file (relative to synth/) and line reading it."""

    name: str
    module: str
    line: int

    @property
    def room(self) -> str:
        parts = Path(self.module).parts
        if len(parts) > 1:
            return ORCHESTRATOR if parts[0] == "cli" else parts[0]
        return TOP.get(Path(parts[0]).stem, ORCHESTRATOR)


@dataclass(frozen=True)
class Walk:
    stays: list[tuple[str, list[Read]]]  # (room or module, its reads)
    climbs: list[tuple[str, str]]  # (from, to)

    @property
    def rooms(self) -> list[str]:
        return list(dict.fromkeys(room for room, _ in self.stays))


def record(run: Callable[[], object]) -> list[Read]:
    """Every read of a ``Metadata`` that ``Metadata.load`` returns while ``run`` runs, in order."""
    reads: list[Read] = []
    tracked: set[int] = set()
    original_get, original_load = Metadata.__getattribute__, Metadata.__dict__["load"]

    def load(cls, source):
        meta = original_load.__func__(cls, source)
        tracked.add(id(meta))
        return meta

    def get(self, name):
        if id(self) in tracked and not name.startswith("__"):
            frame = sys._getframe(1)
            nested = False
            while frame is not None and not _in_package(frame.f_code.co_filename):
                frame = frame.f_back
            probe = frame
            while probe is not None:  # a read inside a Metadata method belongs to that method's read
                if Path(probe.f_code.co_filename).resolve() == INTERNAL:
                    nested = True
                    break
                probe = probe.f_back
            if frame is not None and not nested:
                module = str(Path(frame.f_code.co_filename).resolve().relative_to(PACKAGE))
                reads.append(Read(name, module, frame.f_lineno))
        return original_get(self, name)

    Metadata.__getattribute__ = get
    Metadata.load = classmethod(load)
    try:
        run()
    finally:
        Metadata.__getattribute__ = original_get
        Metadata.load = original_load
    return reads


def _in_package(filename: str) -> bool:
    path = Path(filename)
    return path.is_absolute() and PACKAGE in path.resolve().parents


def walk(reads: list[Read]) -> Walk:
    """Stays by room and the climbs back, as the module's docstring defines them."""
    stays = _stays(reads, lambda r: r.room)
    climbs, last = [], None
    for room, _ in stays:
        if room == ORCHESTRATOR:
            continue
        if last is not None and FLOW[room] < FLOW[last]:
            climbs.append((last, room))
        last = room
    return Walk(stays, climbs)


def issue_walk(reads: list[Read]) -> Walk:
    """Rooms are modules; a climb back is a move to a module of an earlier import-order stage."""
    stays = _stays(reads, lambda r: r.module)
    stage = [_import_stage(m) for m, _ in stays]
    climbs = [(stays[i - 1][0], stays[i][0]) for i in range(1, len(stays)) if stage[i] < stage[i - 1]]
    return Walk(stays, climbs)


def _stays(reads: list[Read], key: Callable[[Read], str]) -> list[tuple[str, list[Read]]]:
    stays: list[tuple[str, list[Read]]] = []
    for r in reads:
        if stays and stays[-1][0] == key(r):
            stays[-1][1].append(r)
        else:
            stays.append((key(r), [r]))
    return stays


def _import_stage(module: str) -> int:
    """The module's place in the import order: its room's place in the flow, the faces last."""
    room = Read("", module, 0).room
    return len(FLOW) if room == ORCHESTRATOR else FLOW[room]


def fit_actg175(out: Path) -> None:
    s = Synthesizer(epsilon=1.0, label="cens", noise_seed=0, **FAST)
    s.fit(str(DATA / "actg175.csv"), str(DATA / "actg175.json"))
    s.save(out / "actg175.synth")


def fit_pbcseq(out: Path) -> None:
    s = Synthesizer(epsilon=1.0, label="trt", noise_seed=0, **FAST)
    s.fit(str(DATA / "pbcseq.csv"), str(DATA / "pbcseq.json"))
    s.save(out / "pbcseq.synth")


FITS = {"actg175": fit_actg175, "pbcseq": fit_pbcseq}


def measure(name: str) -> tuple[Walk, Walk, list[Read]]:
    """The walk of one bundled fit (and its model file): (the rooms' walk, the issue's count, the reads)."""
    with tempfile.TemporaryDirectory() as tmp:
        reads = record(lambda: FITS[name](Path(tmp)))
    return walk(reads), issue_walk(reads), reads


def _show(label: str, w: Walk, verbose: bool) -> None:
    print(f"  {label}: {len(w.stays)} stays in {len(w.rooms)} rooms with {len(w.climbs)} climbs back")
    if verbose:
        print("    " + " → ".join(f"{room}({len(rs)})" for room, rs in w.stays))
        for a, b in w.climbs:
            print(f"    climb: {a} → {b}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", nargs="+", default=list(FITS), choices=list(FITS))
    parser.add_argument("-v", "--verbose", action="store_true", help="print each stay and climb, and each read")
    args = parser.parse_args()
    for name in args.fits:
        rooms, modules, reads = measure(name)
        print(f"{name}: {len(reads)} reads of Metadata")
        _show("by folder", rooms, args.verbose)
        _show("by module (the issue's count)", modules, args.verbose)
        if args.verbose:
            for room, rs in rooms.stays:
                print(f"    [{room}] " + ", ".join(f"{r.name}@{r.module}:{r.line}" for r in rs))


if __name__ == "__main__":
    main()
