"""The sdtype registry: what each SDV column type means to every later stage, said once.

An sdtype's ``kind`` says how the domain, the encoder and the decoder treat it: "numerical" (a
public or DP-released range ``range_min``/``range_max``, binned by the encoder; datetimes are
seconds since 1970), "categorical" (public ``range_values`` or DP-discovered categories, one-hot)
or None (never modelled: ids are written fresh, pii as placeholders). Adding a column type means
an entry here, its coercion in :mod:`synth.schema.validate` and its decoding in
:mod:`synth.encode.table`.

Nothing here reads data: the registry is public by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Sdtype", "REGISTRY", "SDTYPES", "MODELLED", "NUMERIC", "CATEGORICAL", "kind_of", "is_numeric",
           "is_categorical", "is_modelled", "is_number", "is_listed", "is_datetime", "is_boolean", "is_id", "is_pii"]


@dataclass(frozen=True)
class Sdtype:
    """One column type: ``kind`` ("numerical", "categorical" or None: not modelled), whether its
    range is written as dates (``dates``: range_min/range_max parsed with its datetime_format, held
    as seconds since 1970) and the values it has by its type alone (``values``: public without
    range_values)."""

    name: str
    kind: str | None
    dates: bool = False
    values: tuple | None = None

    @property
    def modelled(self) -> bool:
        return self.kind is not None


REGISTRY: dict[str, Sdtype] = {s.name: s for s in (
    Sdtype("numerical", "numerical"),
    Sdtype("categorical", "categorical"),
    Sdtype("boolean", "categorical", values=(False, True)),
    Sdtype("datetime", "numerical", dates=True),
    Sdtype("id", None),
    Sdtype("pii", None),
)}
SDTYPES = tuple(REGISTRY)
MODELLED = tuple(s.name for s in REGISTRY.values() if s.modelled)
NUMERIC = tuple(s.name for s in REGISTRY.values() if s.kind == "numerical")  # a range: numerical, datetime
CATEGORICAL = tuple(s.name for s in REGISTRY.values() if s.kind == "categorical")  # values: categorical, boolean


def kind_of(sdtype: str) -> str | None:
    """"numerical", "categorical" or None (an id or pii column: never modelled)."""
    return REGISTRY[sdtype].kind


def is_numeric(sdtype: str) -> bool:
    """A column with a range (numerical, datetime)."""
    return sdtype in NUMERIC


def is_categorical(sdtype: str) -> bool:
    """A column with values (categorical, boolean)."""
    return sdtype in CATEGORICAL


def is_modelled(sdtype: str) -> bool:
    return sdtype in MODELLED


# The single-type questions, asked here so that no other module compares sdtype names.
def is_number(sdtype: str) -> bool:
    """Plain numbers (numerical, not datetime): a ``synth_scale`` and an integer representation apply."""
    return is_numeric(sdtype) and not REGISTRY[sdtype].dates


def is_listed(sdtype: str) -> bool:
    """Categories as listed (categorical): not a boolean, whose values its type fixes."""
    return is_categorical(sdtype) and REGISTRY[sdtype].values is None


def is_datetime(sdtype: str) -> bool:
    """Dates (written with the column's datetime_format, held as seconds since 1970)."""
    return REGISTRY[sdtype].dates


def is_boolean(sdtype: str) -> bool:
    """True/false values, public by the type alone."""
    return sdtype == "boolean"


def is_id(sdtype: str) -> bool:
    """An identifier: not modelled, written fresh."""
    return sdtype == "id"


def is_pii(sdtype: str) -> bool:
    """Free text or other personal data: not modelled, written as placeholders."""
    return sdtype == "pii"
