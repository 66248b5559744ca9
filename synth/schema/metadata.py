"""Metadata: SDV-style column types plus each column's *public* domain.

The file format is SDV's metadata JSON (spec ``V1``: ``{"tables": {NAME: {...}}}``, or the legacy
single-table form). A column may carry its public domain in the keys SDMetrics' DiagnosticReport
already reads: ``range_min``/``range_max`` (numerical, datetime), ``range_values`` (categorical,
boolean) and ``range_is_nullable``.

Privacy assumption: everything in a metadata file is *public* (chosen from the protocol, a data
dictionary or domain knowledge, not read off the data) — except values marked with
``"range_public": false``, which ``infer`` writes because it copies them from the data. ``fit``
ignores marked values and estimates the domain under DP instead. The rest of a draft (sdtypes,
integer representation, id columns, a sequence's static columns) is read off the data too:
``infer`` lists those fields under ``"synth_review"`` and ``fit`` warns, naming each, until the
user has checked them against the protocol and deleted the marker. How to read the table's CSV
(encoding, separator, padding, missing markers) is the top-level ``"synth_read"`` object
(:mod:`synth.schema.reading`).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from synth.errors import SynthError
from synth.atomic import atomic_write_text
from synth.options import require_file
from synth.schema.analysis import AnalysisDeclaration, read_analysis
from synth.schema.timestamps import epoch_seconds
from synth.schema.reading import READ_KEY, ReadOptions, read_options
from synth.schema.sdtypes import REGISTRY, SDTYPES, is_number

__all__ = ["Metadata", "SDTYPES", "DOMAIN_KEYS", "SCALES", "REVIEW", "INFER_NOTE"]

DOMAIN_KEYS = ("range_min", "range_max", "range_values", "range_is_nullable", "range_public")
REVIEW = "synth_review"  # fields a draft read off the data, listed until the user has reviewed them
SCALES = ("linear", "log")  # a numerical column's "synth_scale": how its range is cut into bins
INFER_NOTE = (
    "DRAFT written by `synth metadata infer`: every range_* value was copied from the data and "
    "is NOT public. `synth fit` ignores values marked \"range_public\": false and estimates them "
    "under DP. Replace them with values from the protocol or a data dictionary and delete the "
    "marker to make them public. The sdtypes, computer_representation, static_columns and how to "
    "read the file (synth_read) were read off the data as well: each is listed under "
    "\"synth_review\" until you have checked it against the protocol and deleted the marker "
    "(`synth fit` warns, naming them, until then). `synth metadata review` lists what to do."
)


@dataclass
class Metadata:
    """One table's schema: ``columns`` maps a column name to its SDV column dict."""

    columns: dict[str, dict[str, Any]]
    table_name: str = "table"
    primary_key: str | None = None
    sequence_key: str | None = None
    sequence_index: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: the declared analysis (``"synth_analysis"``, :mod:`synth.schema.analysis`), read and checked
    #: once when the metadata is built; None when the metadata declares none
    analysis: AnalysisDeclaration | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        self.analysis = read_analysis(self)

    # ---------------------------------------------------------------- reading and writing
    @classmethod
    def load(cls, source: str | Path | dict | Metadata) -> Metadata:
        """Read metadata from a JSON file path, a dict, or return a copy of a Metadata."""
        if isinstance(source, Metadata):
            return copy.deepcopy(source)
        if isinstance(source, dict):
            return cls.from_dict(source)
        path = require_file(source, "metadata file")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SynthError(f"metadata file '{path}' is not valid JSON ({exc})") from exc
        return cls.from_dict(data, origin=f"metadata file '{path}'")

    @classmethod
    def from_dict(cls, data: dict, origin: str = "metadata") -> Metadata:
        if not isinstance(data, dict):
            raise SynthError(f"{origin}: expected a JSON object")
        if "tables" in data:
            tables = data["tables"]
            if not isinstance(tables, dict) or len(tables) != 1:
                raise SynthError(f"{origin}: expected exactly one table under 'tables'")
            name, table = next(iter(tables.items()))
        else:
            name, table = "table", data
        if not isinstance(table, dict):
            raise SynthError(f"{origin}: table '{name}' should be a JSON object")
        columns = table.get("columns")
        if not isinstance(columns, dict) or not columns:
            raise SynthError(f"{origin}: expected a non-empty 'columns' object")
        for col, spec in columns.items():
            if not isinstance(spec, dict) or spec.get("sdtype") not in SDTYPES:
                raise SynthError(
                    f"{origin}: column '{col}' needs an sdtype, one of {', '.join(SDTYPES)}"
                )
        meta = cls(
            columns=copy.deepcopy(columns),
            table_name=name,
            primary_key=table.get("primary_key"),
            sequence_key=table.get("sequence_key"),
            sequence_index=table.get("sequence_index"),
            extra={k: v for k, v in data.items() if k.startswith("synth_")},
        )
        for role in ("primary_key", "sequence_key", "sequence_index"):
            col = getattr(meta, role)
            if col is not None and col not in columns:
                raise SynthError(f"{origin}: {role} '{col}' is not one of the columns")
        return meta

    def to_dict(self, *, strip_domain: bool = False) -> dict:
        """SDV V1 metadata; ``strip_domain`` drops the range_* keys SDV's validator rejects."""
        columns = copy.deepcopy(self.columns)
        if strip_domain:
            synth_keys = ("synth_scale", "synth_decimals", REVIEW)
            columns = {c: {k: v for k, v in s.items() if k not in DOMAIN_KEYS and k not in synth_keys}
                       for c, s in columns.items()}
        table: dict[str, Any] = {"columns": columns}
        for role in ("primary_key", "sequence_key", "sequence_index"):
            if getattr(self, role) is not None:
                table[role] = getattr(self, role)
        out: dict[str, Any] = {"tables": {self.table_name: table}, "relationships": [],
                               "METADATA_SPEC_VERSION": "V1"}
        if not strip_domain:
            out.update(self.extra)
        return out

    def save(self, path: str | Path, *, strip_domain: bool = False) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_dict(strip_domain=strip_domain), indent=2) + "\n")

    # ---------------------------------------------------------------- queries
    def sdtype(self, column: str) -> str:
        return self.columns[column]["sdtype"]

    def is_public(self, column: str) -> bool:
        """False when the column's range_* values were copied from the data (``infer``)."""
        return self.columns[column].get("range_public", True) is not False

    def public_bounds(self, column: str) -> tuple[float, float] | None:
        spec = self.columns[column]
        if not self.is_public(column) or "range_min" not in spec or "range_max" not in spec:
            return None
        lo, hi = spec["range_min"], spec["range_max"]
        if REGISTRY[spec["sdtype"]].dates:
            lo, hi = (_to_epoch(v, spec.get("datetime_format"), column) for v in (lo, hi))
        try:
            lo, hi = float(lo), float(hi)
        except (TypeError, ValueError) as exc:
            raise SynthError(f"metadata: column '{column}' range_min/range_max must be numbers") from exc
        if not lo < hi:
            raise SynthError(f"metadata: column '{column}' needs range_min < range_max, got {lo}, {hi}")
        return lo, hi

    def scale(self, column: str) -> str:
        """A numerical column's public ``synth_scale``: "linear" (default) or "log".

        "log" cuts the public range into bins of equal width on the log scale (lab values such as
        bilirubin, which clinical models already take the log of); it needs a public range_min > 0.
        """
        spec = self.columns[column]
        scale = spec.get("synth_scale", "linear")
        if scale not in SCALES:
            raise SynthError(f"metadata: column '{column}' synth_scale must be one of {', '.join(SCALES)}, "
                             f"got {scale!r}")
        if scale == "log":
            if not is_number(spec["sdtype"]):
                raise SynthError(f"metadata: column '{column}' synth_scale log is for numerical columns only")
            bounds = self.public_bounds(column)
            if bounds is None or not bounds[0] > 0:
                raise SynthError(f"metadata: column '{column}' synth_scale log needs a public range_min > 0")
        return scale

    def public_values(self, column: str) -> list | None:
        spec = self.columns[column]
        by_type = REGISTRY[spec["sdtype"]].values
        if by_type is not None and not spec.get("range_values"):
            return list(by_type)  # a boolean's domain is public by its type
        if not self.is_public(column) or not spec.get("range_values"):
            return None
        return list(spec["range_values"])

    def listed_values(self, column: str) -> list | None:
        """The column's ``range_values`` as written, public or not (a draft's are copied from the
        data): for the evaluation, which is for the data holder; never for a release."""
        values = self.columns[column].get("range_values")
        return list(values) if values else None

    def unreviewed(self) -> list[str]:
        """The drafted fields still marked for review ("column 'age': sdtype, computer_representation",
        "synth_sequence: static_columns"): read off the data by ``infer``, not yet checked."""
        out = [f"column '{c}': {', '.join(map(str, s[REVIEW]))}" for c, s in self.columns.items() if s.get(REVIEW)]
        for key in ("synth_sequence", READ_KEY):
            spec = self.extra.get(key)
            if isinstance(spec, dict) and spec.get(REVIEW):
                out.append(f"{key}: {', '.join(map(str, spec[REVIEW]))}")
        return out

    def public_patients(self) -> int | None:
        """The number of patients stated as public (``"synth_patients": N``, e.g. a trial's published
        enrolment), or None: then ``fit`` releases it under DP."""
        n = self.extra.get("synth_patients")
        if n is None:
            return None
        if (isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or not float(n).is_integer()
                or not 2 <= n <= 10**9):
            raise SynthError(f"metadata: synth_patients must be a whole number of patients from 2 to 10^9, got {n!r}")
        return int(n)

    def public_dict(self) -> dict:
        """:meth:`to_dict` without the values marked private (``"range_public": false``): what a model
        file may hold. The marker stays, so a reader sees that the domain was released under DP."""
        out = self.to_dict()
        table = next(iter(out["tables"].values()))
        for col, spec in table["columns"].items():
            if not self.is_public(col):
                table["columns"][col] = {k: v for k, v in spec.items()
                                         if k not in DOMAIN_KEYS or k == "range_public"}
        return out

    def public_nullable(self, column: str) -> bool | None:
        spec = self.columns[column]
        if not self.is_public(column) or "range_is_nullable" not in spec:
            return None
        return bool(spec["range_is_nullable"])

    def read_options(self, **overrides: Any) -> ReadOptions:
        """How to read this table's CSV: the ``synth_read`` key, with ``overrides`` (CLI options;
        None: not given) taking precedence (:mod:`synth.schema.reading`)."""
        return read_options(self.extra, **overrides)

    # ---------------------------------------------------------------- inference
    @classmethod
    def infer(cls, df: pd.DataFrame, table_name: str = "table", max_categories: int = 20,
              sequence_key: str | None = None, sequence_index: str | None = None) -> Metadata:
        """Draft metadata from a DataFrame (long-format visits when ``sequence_key`` is given:
        columns constant within every patient are drafted as static). See
        :func:`synth.schema.infer.draft_metadata`, which also says what it cleaned and guessed.

        Privacy assumption: the draft copies bounds and categories from the data, so it marks
        every column ``"range_public": false``; ``fit`` treats those values as private.
        """
        from synth.schema.infer import draft_metadata

        return draft_metadata(df, table_name, max_categories, sequence_key, sequence_index)[0]


def _to_epoch(value: Any, fmt: str | None, column: str) -> float:
    try:
        ts = pd.to_datetime(value, format=fmt) if fmt else pd.to_datetime(value)
    except (ValueError, TypeError) as exc:
        raise SynthError(f"metadata: column '{column}' bound '{value}' is not a date in format {fmt}") from exc
    return float(epoch_seconds([ts])[0])
