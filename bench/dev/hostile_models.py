"""Model files from a stranger, made from a valid one: shared by tests/io/test_modelfile.py and bench/dev/fuzz.py.

Each generator yields ``(name, bytes)``; :func:`try_load` says how loading such a file ended.
The pickles and the ``.pt`` file carry a payload that would create ``marker`` if any code in
them ran.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from synth import Synthesizer, SynthError
from synth.io.modelfile import _checksum, read_model


def _header(raw: bytes) -> tuple[int, dict]:
    n = struct.unpack("<Q", raw[:8])[0]
    return n, json.loads(raw[8:8 + n])


def _with_header(raw: bytes, header: dict) -> bytes:
    n, _ = _header(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + raw[8 + n:]


def truncations(raw: bytes, rng: np.random.Generator, k: int = 24) -> Iterator[tuple[str, bytes]]:
    """Cuts in every region: the length prefix, the JSON header, its end, the tensors, the last byte."""
    n, _ = _header(raw)
    cuts = {0, 1, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1, len(raw) - 1}
    cuts |= {int(c) for c in rng.integers(1, len(raw), size=k)}
    for cut in sorted(cuts):
        yield f"truncated at byte {cut} of {len(raw)}", raw[:cut]


def bit_flips(raw: bytes, rng: np.random.Generator, k: int = 48) -> Iterator[tuple[str, bytes]]:
    """One flipped bit, half of them in the header (the JSON, its lengths and offsets)."""
    n, _ = _header(raw)
    for i in range(k):
        pos = int(rng.integers(0, 8 + n) if i % 2 else rng.integers(8 + n, len(raw)))
        flipped = bytearray(raw)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        yield f"bit flipped at byte {pos}", bytes(flipped)


def header_edits(raw: bytes) -> Iterator[tuple[str, bytes]]:
    """The safetensors header itself edited: lengths, shapes, offsets and dtypes of a tensor."""
    n, header = _header(raw)
    yield "header length 2^62", struct.pack("<Q", 2**62) + raw[8:]
    yield "header length past the end", struct.pack("<Q", len(raw)) + raw[8:]
    name = next(k for k in header if k != "__metadata__")
    for what, edit in [("absurd shape", {"shape": [10**12, 10**12]}), ("negative shape", {"shape": [-1, 4]}),
                       ("offsets past the end", {"data_offsets": [0, 10**12]}), ("unknown dtype", {"dtype": "Q99"}),
                       ("shape of another size", {"shape": [1]})]:
        edited = json.loads(json.dumps(header))
        edited[name].update(edit)
        yield f"tensor {name}: {what}", _with_header(raw, edited)
    edited = json.loads(json.dumps(header))
    edited["__metadata__"]["synth"] = "x" * (2**24 + 1)
    yield "a 16 MB document", _with_header(raw, edited)


def forgeries(path: Path) -> Iterator[tuple[str, bytes]]:
    """Documents edited by someone who also recomputed the checksum (a forger, not damage)."""
    tensors, doc = read_model(path)

    def edited(change) -> bytes:
        d = json.loads(json.dumps(doc))
        t = dict(tensors)
        change(d, t)
        doc_json = json.dumps(d, sort_keys=True)
        from safetensors.torch import save
        return save(t, metadata={"synth": doc_json, "checksum": _checksum(doc_json, t)})

    def ledger_claim(d, t):
        d["ledger"]["epsilon"] = d["ledger"]["epsilon"] / 10

    def sample_rate(d, t):
        d["ledger"]["mechanisms"][-1]["sample_rate"] = 5.0

    def many_mechanisms(d, t):
        d["ledger"]["mechanisms"] = d["ledger"]["mechanisms"] * 5000

    def many_dp_sgd_runs(d, t):
        d["ledger"]["mechanisms"] = d["ledger"]["mechanisms"][-1:] * 500

    def hidden(d, t):
        d["generator"]["hidden"] = 10**9

    def noise_dim(d, t):
        d["generator"]["noise_dim"] = 10**9

    def max_visits(d, t):
        d["sequence"] = {"max_visits": 10**9, "key": "pid", "index": "visit"}

    def no_domain(d, t):
        d.pop("domain")

    def domain_type(d, t):
        d["domain"]["columns"] = "everything"

    def transposed(d, t):
        t["out.weight"] = t["out.weight"].T.contiguous()

    def missing_tensor(d, t):
        t.pop("out.bias")

    def version(d, t):
        d["format_version"] = 99

    def not_object(d, t):
        d.clear()
        d["format"] = "synth-model"
        d["format_version"] = 6
        d["ledger"] = []

    for change in (ledger_claim, sample_rate, many_mechanisms, many_dp_sgd_runs, hidden, noise_dim, max_visits,
                   no_domain, domain_type, transposed, missing_tensor, version, not_object):
        yield f"forged: {change.__name__}", edited(change)


class _Payload:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def foreign_files(marker: Path) -> Iterator[tuple[str, bytes]]:
    """Files of other kinds renamed to a model file; the pickles carry a payload."""
    yield "a pickle with a payload", pickle.dumps(_Payload(marker))
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2), "p": _Payload(marker)}, buf)
    yield "a torch .pt file with a payload", buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.pkl", pickle.dumps(_Payload(marker)))
    yield "a zip holding a pickle", buf.getvalue()
    from safetensors.torch import save
    yield "a foreign safetensors file", save({"w": torch.zeros(3)}, metadata={"format": "pt"})
    yield "an empty file", b""
    yield "a CSV", b"a,b\n1,2\n"
    yield "JSON", json.dumps({"format": "synth-model"}).encode()


def try_load(path: Path) -> tuple[str, str, float]:
    """(``rejected`` | ``loaded`` | ``crashed``, message, seconds) for loading ``path``."""
    start = time.perf_counter()
    try:
        Synthesizer.load(path, device="cpu")
    except SynthError as exc:
        return "rejected", str(exc), time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - the finding
        return "crashed", f"{type(exc).__name__}: {exc}", time.perf_counter() - start
    return "loaded", "", time.perf_counter() - start
