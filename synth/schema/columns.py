"""The metadata resolved once into typed column specs: each column's type and public domain.

:func:`resolve_columns` reads a :class:`~synth.schema.metadata.Metadata`'s column dicts once (its
sdtype through :mod:`synth.schema.sdtypes`, public bounds, values, nullability, integer
representation, datetime format and scale), with the table's roles (primary and sequence keys, the
sequence index, a sequence's static columns), into a frozen :class:`Schema`; the release, encode
and evaluation stages read these specs instead of the raw dicts.

Privacy assumption: a spec holds public metadata only. A value marked ``"range_public": false``
(copied from the data by ``infer``) resolves to None, as if absent: the guarantee is void if such
a value reached a spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from synth.schema.analysis import AnalysisDeclaration
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import is_categorical, is_number, is_numeric, kind_of

__all__ = ["ColumnSpec", "Schema", "resolve_columns", "as_schema"]


@dataclass(frozen=True)
class ColumnSpec:
    """One column's public description. ``bounds``/``values``/``nullable`` are None where the
    metadata gives none publicly (the domain then releases them under DP, or assumes nullable)."""

    name: str
    sdtype: str
    bounds: tuple[float, float] | None = None  # numerical kinds: public range_min/range_max (epoch seconds)
    values: tuple | None = None  # categorical kinds: public range_values (a boolean's are public by type)
    nullable: bool | None = None  # public range_is_nullable
    integer: bool = False  # a numerical column with an integer computer_representation
    datetime_format: str | None = None
    scale: str = "linear"  # a numerical column's synth_scale

    @property
    def kind(self) -> str | None:
        """"numerical", "categorical" or None (not modelled): :func:`synth.schema.sdtypes.kind_of`."""
        return kind_of(self.sdtype)

    def needs(self) -> str | None:
        """Which DP release the domain needs: "bounds", "categories" or None (public)."""
        if self.kind == "numerical":
            return None if self.bounds else "bounds"
        return None if self.values else "categories"


@dataclass(frozen=True)
class Schema:
    """Every column of the metadata, in order, resolved (:func:`resolve_columns`), with the table's
    public roles (``primary_key``, ``sequence_key``, ``sequence_index``, ``static``: a sequence's
    ``synth_sequence.static_columns``, None where the metadata lists none) and the public statements
    that the stages after the schema read instead of the metadata. :meth:`only` and :meth:`plus`
    keep them; a schema built by hand has none."""

    columns: tuple[ColumnSpec, ...]
    primary_key: str | None = None
    sequence_key: str | None = None
    sequence_index: str | None = None
    static: tuple[str, ...] | None = None
    public_patients: int | None = None  # "synth_patients" (public), else None: fit releases N under DP
    analysis: AnalysisDeclaration | None = None  # "synth_analysis", checked when the metadata was built

    def __getitem__(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns)

    def __contains__(self, name: object) -> bool:
        return any(spec.name == name for spec in self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def only(self, names: Iterable[str]) -> Schema:
        """The specs of ``names``, in that order."""
        return replace(self, columns=tuple(self[n] for n in names))

    def plus(self, spec: ColumnSpec) -> Schema:
        return replace(self, columns=(*self.columns, spec))


def resolve_columns(meta: Metadata, names: Iterable[str] | None = None) -> Schema:
    """The metadata's columns (``names``, else all) and its table's roles and statements resolved once.
    Raises the metadata's SynthErrors (a bad range, a bad ``synth_scale``, a bad ``synth_patients``):
    every modelled column's bounds are checked before any scale."""
    names = list(meta.columns) if names is None else list(names)
    bounds = {c: meta.public_bounds(c) for c in names if is_numeric(meta.sdtype(c))}
    scales = {c: meta.scale(c) for c in names if is_number(meta.sdtype(c))}
    specs = []
    for col in names:
        spec, sdtype = meta.columns[col], meta.sdtype(col)
        rep = str(spec.get("computer_representation", "Float"))
        values = meta.public_values(col) if is_categorical(sdtype) else None
        specs.append(ColumnSpec(col, sdtype, bounds.get(col), None if values is None else tuple(values),
                                meta.public_nullable(col),
                                integer=is_number(sdtype) and rep.lower().startswith(("int", "uint")),
                                datetime_format=spec.get("datetime_format"), scale=scales.get(col, "linear")))
    sequence = meta.extra.get("synth_sequence") or {}
    static = sequence.get("static_columns") if meta.sequence_key and isinstance(sequence, dict) else None
    return Schema(tuple(specs), meta.primary_key, meta.sequence_key, meta.sequence_index,
                  None if static is None else tuple(static), meta.public_patients(), meta.analysis)


def as_schema(source: Schema | Metadata | dict | str) -> Schema:
    """``source`` itself when already resolved, else its metadata (a Metadata, dict or JSON path)
    loaded and resolved: for the public evaluation functions, which take either."""
    return source if isinstance(source, Schema) else resolve_columns(Metadata.load(source))
