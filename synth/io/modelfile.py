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
from safetensors.torch import load_file, save_file

from synth.errors import SynthError
from synth.io.atomic import atomic_path
from synth.privacy.ledger import Ledger

__all__ = ["FORMAT", "FORMAT_VERSION", "write_model", "read_model", "file_sha256", "package_versions"]

FORMAT = "synth-model"
FORMAT_VERSION = 6  # 2: a numerical column's scale (linear/log) and the released label counts; 3: "duration";
# 4: a sequence's follow_up_end and first_visit_at; 5: the metadata's synth_inequalities, kept at sampling;
# 6: the ledger names its adjacency, its noise source and where N came from (released, not exact); no private
# metadata values, real-batch losses or training time
READABLE_VERSIONS = (1, 2, 3, 4, 5, 6)  # a version-1 file has neither: linear bins, proportions as stored


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
    """Read and verify a model file; any damage or foreign file → SynthError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SynthError(f"model file '{path}' not found")
    try:
        tensors = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SynthError(f"model file '{path}' is not a synth model (truncated or foreign file)") from exc
    doc_json, checksum = header.get("synth"), header.get("checksum")
    if doc_json is None or checksum is None:
        raise SynthError(f"model file '{path}' is a safetensors file but not a synth model")
    if _checksum(doc_json, tensors) != checksum:
        raise SynthError(f"model file '{path}' fails its checksum: it was edited or damaged")
    doc = json.loads(doc_json)
    if doc.get("format") != FORMAT:
        raise SynthError(f"model file '{path}' is not a synth model")
    if doc.get("format_version") not in READABLE_VERSIONS:
        raise SynthError(f"model file '{path}' has format version {doc.get('format_version')}; "
                         f"this synth reads versions {', '.join(map(str, READABLE_VERSIONS))}")
    _verify_ledger(path, doc["ledger"])
    return tensors, doc


def _verify_ledger(path: Path, ledger_doc: dict[str, Any]) -> None:
    """Recompute ε from the stored accountant history; it must match what the file claims."""
    ledger = Ledger.from_dict(ledger_doc)
    eps, claimed = ledger.epsilon(), ledger_doc.get("epsilon")
    if (claimed is None) != math.isinf(eps) or (claimed is not None and abs(eps - claimed) > 1e-6 * max(1, eps)):
        raise SynthError(f"model file '{path}': its ledger's history gives epsilon {eps}, not the {claimed} it claims")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
