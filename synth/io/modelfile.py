"""The model file: one safetensors file; tensors as tensors, everything else as JSON.

Layout: the generator's weights are the file's tensors; the safetensors header's string
metadata holds ``synth`` (a JSON document: format version, metadata, domain, hyperparameters,
ledger, training summary, package versions) and ``checksum`` (SHA-256 over that JSON and every
tensor's bytes). Nothing is pickled. A truncated, edited or foreign file gives a SynthError.
"""

from __future__ import annotations

import hashlib
import json
import math
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from synth.errors import SynthError
from synth.atomic import atomic_path
from synth.options import require_file
from synth.privacy.ledger import Ledger
from synth.schema.sequence import MAX_SCHEDULE
from synth.schema.slots import ATTENDANCE, ATTENDANCE_VALUES, MAX_SLOTS

__all__ = ["FORMAT", "FORMAT_VERSION", "write_model", "read_model", "check_sizes", "file_sha256", "package_versions"]

FORMAT = "synth-model"
FORMAT_VERSION = 11  # 2: a numerical column's scale (linear/log) and the released label counts; 3: "duration";
# 4: a sequence's follow_up_end and first_visit_at; 5: the metadata's synth_inequalities, kept at sampling;
# 6: the ledger names its adjacency, its noise source and where N came from (released, not exact); no private
# metadata values, real-batch losses or training time; 7: a sequence's visit_tables and schedule; 8: a
# stated schedule's visits as slots (the layout's slots and attendance, the __attendance column); 9: the
# generator's per-class logit offsets (class_offsets: a declared binary outcome's rate per arm); 10: a declared
# time-to-event pair's joint draw per arm (generator.joint: the pairs' cells; joint.tilt_i, joint.position_i);
# 11: a label the metadata says may be missing has a last class, "missing" (domain.label.nullable)
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)  # version 1 has neither: linear bins, proportions as stored
# Caps that keep a hostile file's cost bounded, far above anything synth writes (a fit's model
# is a few MB, its document tens of kB, its ledger tens of mechanisms).
MAX_FILE_BYTES = 2**30
MAX_DOCUMENT_CHARS = 2**24
MAX_MECHANISMS = 1_000
MAX_JOINT = 16  # declared time-to-event pairs drawn jointly
MAX_SUBSAMPLED = 16  # mechanisms with q < 1 (DP-SGD runs): about 40 ms of RDP each to recompute ε


def package_versions() -> dict[str, str]:
    out = {}
    for pkg in ("synth", "torch", "opacus", "numpy", "pandas", "safetensors"):
        try:
            out[pkg] = importlib_metadata.version(pkg)
        except importlib_metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _checksum(doc_json: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(doc_json.encode())
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().numpy().tobytes())
    return h.hexdigest()


def write_model(path: str | Path, tensors: dict[str, torch.Tensor], document: dict[str, Any]) -> None:
    """Write ``tensors`` and the JSON ``document`` atomically to ``path``."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, **document}
    doc_json = json.dumps(doc, sort_keys=True, allow_nan=False)
    header = {"synth": doc_json, "checksum": _checksum(doc_json, tensors)}
    with atomic_path(Path(path), private=True) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def read_model(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and verify a model file; any damage or foreign file → SynthError naming the file.

    Safe on a file from a stranger: nothing in it is executed (safetensors holds raw tensors and
    a JSON header; no pickle, no ``eval``, nothing imported), and memory and time stay bounded
    (the file's size, the document's size and the ledger's length are capped before anything is
    built from them). The checksum detects damage, not forgery: anyone can write a file whose
    ledger claims what they like, so a file's guarantee is only as trustworthy as its source.
    """
    path = require_file(path, "model file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SynthError(f"model file '{path}' is {size / 2**30:.1f} GiB, larger than any synth model "
                         f"({MAX_FILE_BYTES / 2**30:.0f} GiB at most)")
    foreign = f"model file '{path}' is not a synth model (truncated or foreign file)"
    try:
        with safe_open(str(path), framework="pt") as f:  # the header only: names, shapes, metadata
            header = f.metadata() or {}
            shapes = {name: f.get_slice(name).get_shape() for name in f.keys()}
        doc_json, checksum = header.get("synth"), header.get("checksum")
        if doc_json is None or checksum is None:
            raise SynthError(f"model file '{path}' is a safetensors file but not a synth model")
        if len(doc_json) > MAX_DOCUMENT_CHARS:
            raise SynthError(f"model file '{path}': its document is {len(doc_json):,} characters, more than any "
                             "synth model writes")
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError, OverflowError) as exc:
        if isinstance(exc, SynthError):
            raise
        raise SynthError(foreign) from exc
    if {k: list(v.shape) for k, v in tensors.items()} != {k: list(v) for k, v in shapes.items()}:
        raise SynthError(foreign)
    if _checksum(doc_json, tensors) != checksum:
        raise SynthError(f"model file '{path}' fails its checksum: it was edited or damaged")
    try:
        doc = json.loads(doc_json)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SynthError(f"model file '{path}': its document is not JSON") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise SynthError(f"model file '{path}' is not a synth model")
    if doc.get("format_version") not in READABLE_VERSIONS:
        raise SynthError(f"model file '{path}' has format version {doc.get('format_version')!r}; "
                         f"this synth reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    try:
        _verify_ledger(path, doc["ledger"])
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        if isinstance(exc, SynthError):
            raise
        raise SynthError(f"model file '{path}': its ledger is malformed ({type(exc).__name__}: {exc})") from exc
    return tensors, doc


def _verify_ledger(path: Path, ledger_doc: dict[str, Any]) -> None:
    """Recompute ε from the stored accountant history; it must match what the file claims."""
    if len(ledger_doc["mechanisms"]) > MAX_MECHANISMS:
        raise SynthError(f"model file '{path}': its ledger lists {len(ledger_doc['mechanisms']):,} mechanisms, "
                         f"more than any synth fit writes ({MAX_MECHANISMS:,})")
    ledger = Ledger.from_dict(ledger_doc)
    if sum(m.sample_rate < 1 for m in ledger.mechanisms) > MAX_SUBSAMPLED:
        raise SynthError(f"model file '{path}': its ledger lists more subsampled mechanisms than any synth fit writes "
                         f"({MAX_SUBSAMPLED})")
    if any(not (0 < m.sample_rate <= 1) or m.noise_multiplier < 0 or m.steps < 0 for m in ledger.mechanisms):
        raise SynthError(f"model file '{path}': its ledger holds a sample rate outside (0, 1], a negative noise "
                         "multiplier or negative steps")
    eps, claimed = ledger.epsilon(), ledger_doc.get("epsilon")
    if (claimed is None) != math.isinf(eps) or (claimed is not None and abs(eps - claimed) > 1e-6 * max(1, eps)):
        raise SynthError(f"model file '{path}': its ledger's history gives epsilon {eps}, not the {claimed} it claims")


def _check_label(path: str | Path, doc: dict) -> None:
    """The label's classes (its values, and "missing" from version 11) agree with its proportions
    and released counts, so that sampling draws every class and no other."""
    label = doc["domain"].get("label")
    if not label:
        return
    nullable = bool(label.get("nullable"))
    if nullable and int(doc.get("format_version", 0)) < 11:
        raise SynthError(f"model file '{path}': a label with a missing class in a file of format version "
                         f"{doc.get('format_version')} (it came with version 11)")
    classes = len(label.get("categories") or []) + nullable
    counts = doc["domain"].get("label_counts") or []
    if len(doc["domain"].get("label_proportions") or []) != classes or len(counts) not in (0, classes):
        raise SynthError(f"model file '{path}': its label's proportions do not match its {classes} classes")


def check_sizes(path: str | Path, tensors: dict[str, torch.Tensor], doc: dict) -> None:
    """The document's sizes agree with the stored weights' shapes, so that building the encoder
    and generator from them costs no more than the file itself."""
    out, first = tensors.get("out.weight"), tensors.get("body.0.weight")
    if out is None or first is None or out.dim() != 2 or first.dim() != 2:
        raise SynthError(f"model file '{path}': weights do not match its schema")
    width, hidden = out.shape
    gen = doc["generator"]
    if (int(gen["hidden"]) != hidden or not 0 < int(gen["noise_dim"]) <= first.shape[1]
            or len(doc["domain"]["columns"]) > width):
        raise SynthError(f"model file '{path}': weights do not match its schema")
    joint = gen.get("joint") or []
    if not isinstance(joint, list) or len(joint) > MAX_JOINT or not all(
            isinstance(p, list) and len(p) == 4 and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
            and 0 <= p[0] and 0 < p[1] and 0 <= p[2] and 0 < p[3] and p[0] + p[1] <= width and p[2] + p[3] < width
            for p in joint):
        raise SynthError(f"model file '{path}': its time-to-event pairs do not match its weights")
    if joint and int(doc.get("format_version", 0)) < 10:
        raise SynthError(f"model file '{path}': a joint time-to-event draw in a file of format version "
                         f"{doc.get('format_version')} (it came with version 10)")
    _check_label(path, doc)
    stored = {name for name in tensors if name.startswith("joint.")}
    for i, p in enumerate(joint):  # the buffers built from the pairs are no larger than the stored tensors
        tilt, position = tensors.get(f"joint.tilt_{i}"), tensors.get(f"joint.position_{i}")
        if (tilt is None or position is None or tilt.dim() != 3 or tuple(tilt.shape[1:]) != (p[1], p[3])
                or tilt.shape[0] > width or tuple(position.shape[:2]) != (p[1], p[3]) or position.dim() != 3):
            raise SynthError(f"model file '{path}': its time-to-event pairs do not match its weights")
        stored -= {f"joint.tilt_{i}", f"joint.position_{i}"}
    if stored:
        raise SynthError(f"model file '{path}': weights do not match its schema")
    sequence = doc.get("sequence") or {}
    if not 0 <= int(sequence.get("max_visits") or 0) <= width:
        raise SynthError(f"model file '{path}': its visit layout does not match its weights")
    schedule = sequence.get("schedule")  # sampling compares every visit with every scheduled time
    if schedule is not None and (not isinstance(schedule, list) or not 0 < len(schedule) <= MAX_SCHEDULE or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in schedule)):
        raise SynthError(f"model file '{path}': its visit schedule is not a short list of numbers")
    if sequence.get("slots"):  # sampling builds a (patterns × slots) matrix from the attendance column
        k = len(schedule or [])
        cells = next((c.get("categories") for c in doc["domain"]["columns"] if c.get("name") == ATTENDANCE), None)
        if (not 0 < k <= MAX_SLOTS or sequence.get("max_visits") != k or not isinstance(cells, list) or not cells
                or not all(isinstance(c, str) and len(c) == k and c[0] == "1" and set(c) <= {"0", "1"}
                           for c in cells)
                or sequence.get("attendance") not in (None, *ATTENDANCE_VALUES)):
            raise SynthError(f"model file '{path}': its visit slots do not match its schedule")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
