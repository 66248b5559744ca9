"""The synthesizer's sampling face: rows, the CSV and the statement beside it (post-processing).

Everything here reads the fitted model only (the generator, the encoder, the released domain,
the public metadata and the ledger), never real data; a user ``seed`` fixes the draws. What
would void the guarantee: nothing here may reach the training data or the noise of a fit.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from synth.atomic import atomic_path, atomic_write_text
from synth.encode.inequalities import inequality_rule
from synth.errors import SynthError
from synth.io.modelfile import file_sha256
from synth.sample.arrow_rows import ArrowRows
from synth.sample.csv_out import in_background, write_csv_batches
from synth.sample.draw import SLICE_ROWS, input_slices, sample_chunks
from synth.sample.precision import Precision
from synth.sample.rules import apply_implications, apply_inequalities
from synth.schema.implications import read_implications
from synth.schema.validate import category_key
from synth.threads import use_threads

__all__ = ["SamplingFace", "MAX_ROWS", "SAMPLE_THREADS"]

MAX_ROWS = 10**9  # about 100 GB of CSV for a trial table
SAMPLE_THREADS = 2  # threads drawing and decoding slices beside the writer's (issue 47: 2 cores)


class SamplingFace:
    """:class:`synth.synthesizer.Synthesizer`'s sampling methods (a mixin: it reads the fitted
    state through ``_state()``, ``domain``, ``ledger``, ``device``, ``threads`` and ``_ranks``)."""

    def _label_index(self, condition: str | dict | None) -> int | None:
        if not condition:
            return None
        if isinstance(condition, str):
            if "=" not in condition:
                raise SynthError(f"condition must be COLUMN=VALUE, got '{condition}'")
            condition = dict([condition.split("=", 1)])
        if len(condition) != 1:
            raise SynthError("condition takes one COLUMN=VALUE, on the label column")
        (column, value), = condition.items()
        lab = self.domain.label
        if lab is None or column != lab.name:
            raise SynthError(f"condition: '{column}' is not the label column "
                             f"({'the model has no label' if lab is None else repr(lab.name)})")
        key = category_key(value)
        if key not in lab.categories:
            raise SynthError(f"condition: {column}={value} is not one of {lab.values}")
        return lab.categories.index(key)

    def sample(self, n: int, seed: int = 0, condition: str | dict | None = None) -> pd.DataFrame:
        """``n`` synthetic patients (post-processing: costs no privacy)."""
        use_threads(self.threads)
        chunks = list(self._chunks(n, seed, condition))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def _rules(self, n: int) -> tuple[Precision, tuple]:
        """The written precision and the inequality rule (pairs, ceilings, domains), after checking ``n``."""
        if int(n) < 1:
            raise SynthError(f"the number of rows to sample (n) must be at least 1, got {n}")
        if int(n) > MAX_ROWS:
            raise SynthError(f"n = {n} rows is more than synth writes in one call ({MAX_ROWS:,}); sample in several "
                             "files with different seeds")
        st = self._state()
        pairs, ceiling, columns = inequality_rule(st["meta"], st["domain"])
        written = Precision(st["meta"], st["domain"])  # numbers at the metadata's precision (synth.sample.precision)
        if pairs:
            ceiling, columns = written.grid(pairs, columns)
        return written, (pairs, ceiling, columns)

    def _chunks(self, n: int, seed: int, condition, chunk_size: int = 65_536):
        """DataFrames of the rows (the reference path :meth:`write_csv`'s batches are tested against)."""
        written, rule = self._rules(n)
        st = self._state()
        chunks = sample_chunks(st["generator"], st["encoder"], st["domain"], int(n), seed,
                               label_index=self._label_index(condition), chunk_size=chunk_size, device=self.device)
        implied = read_implications(st["meta"])  # after the inequalities, which move numbers only
        return (apply_implications(apply_inequalities(written.round(chunk), *rule), implied) for chunk in chunks)

    def _batches(self, n: int, seed: int, condition, chunk_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The rows as Arrow record batches, a slice at a time (the streaming sampler): the same
        values as :meth:`_chunks`, so the same CSV bytes."""
        written, rule = self._rules(n)
        st = self._state()
        implied = read_implications(st["meta"])
        rows = ArrowRows(st["encoder"], st["domain"], written, *rule, implied)
        # The CSV keeps the first chunk's types: where an implication could change one, a slice is a chunk
        slices = input_slices(st["generator"], st["encoder"], st["domain"], int(n), seed,
                              label_index=self._label_index(condition), chunk_size=chunk_size,
                              slice_rows=SLICE_ROWS if rows.slices_keep_types else chunk_size, device=self.device)
        # two threads draw slices (torch's and NumPy's loops free the GIL), a third writes them
        return in_background(lambda part: rows.batch(*part.draw()), slices, pending=8, workers=SAMPLE_THREADS)

    def write_csv(self, path: str | Path, n: int, seed: int = 0, condition: str | dict | None = None,
                  model_path: str | Path | None = None, chunk_size: int = 65_536) -> Path:
        """Write ``n`` rows to ``path`` chunk by chunk, then ``<path>.privacy.json`` beside it.

        Crash-safe: the rows go to a temporary file; once it is complete, the old CSV is removed,
        the new statement (with the new CSV's SHA-256) written, and the new CSV renamed into
        place. Killed at any moment, an existing CSV has its own statement beside it.
        """
        path = Path(path)
        if not self._ranks.leader:
            return path  # rank 0 writes it
        statement_path = Path(f"{path}.privacy.json")
        batches = self._batches(n, seed, condition, chunk_size)
        with atomic_path(path) as tmp:
            write_csv_batches(tmp, batches)
            statement = self.privacy_statement(rows=int(n), seed=seed, condition=condition, model_path=model_path,
                                               csv_sha256=file_sha256(tmp))
            path.unlink(missing_ok=True)
            atomic_write_text(statement_path, json.dumps(statement, indent=2) + "\n")
        return path

    def privacy_statement(self, rows: int, seed: int, condition: Any, model_path: str | Path | None,
                          csv_sha256: str | None = None) -> dict:
        """What a collaborator needs to know about a CSV's guarantee, without the model."""
        ledger = self.ledger.to_dict()
        return {
            "synthetic_data": True, "rows": rows, "seed": seed, "condition": condition, "csv_sha256": csv_sha256,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "guarantee": ledger["guarantee"], "epsilon": ledger["epsilon"], "delta": ledger["delta"],
            "model_file": str(model_path) if model_path else None,
            "model_sha256": file_sha256(model_path) if model_path else None,
            "ledger": ledger,
        }
