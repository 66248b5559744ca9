"""Inequalities between columns: public facts of the schema, kept in every synthetic row.

A trial's schema often says that one time cannot come after another: progression before death
or last contact (mgus2's ``ptime`` ≤ ``futime``), recurrence before death (``rtime`` ≤
``dtime``). The metadata states them at the top level::

    "synth_inequalities": [{"low": "ptime", "high": "futime"}]

and sampling post-processes every synthetic row to keep them
(:func:`synth.sample.rules.apply_inequalities`, with ceilings from the released domains):
where ``low`` exceeds ``high``, ``high`` is raised to ``low``. Real data with a censored
event time usually hold many rows with the two equal, and raising makes such rows too. A row
with either value missing is left as it is. Of three rules compared on three trial tables
(bench/RESULTS.md item 69: lower ``low``, raise ``high``, swap them), raising gave the highest
quality, with the downstream ratio level.

Privacy assumption: the pairs are public metadata. :func:`check_data` reads real rows only to
stop ``fit`` with an error naming the columns, never a row or how many (nothing is stored or
released); everything else
is post-processing of generated values and of the released domains, and costs no ε.

The same key also holds implications between a numerical and a categorical column ("GA < 259
days ⇒ preterm"): :mod:`synth.schema.implications`.

Notes: the guarantee assumes each pair comes from the study design, like the ranges. A pair
chosen because the data happen to keep it (say, from scanning the real table for orderings
that hold) makes that ordering a fact about the patients released outside the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from synth.errors import FIX_IN_METADATA, SynthError
from synth.schema.implications import check_implications, read_implications
from synth.schema.metadata import Metadata
from synth.schema.validate import coerce_frame
from synth.schema.sdtypes import is_numeric

__all__ = ["Inequality", "read_inequalities", "check_data"]

KEY = "synth_inequalities"


@dataclass(frozen=True)
class Inequality:
    """``low`` ≤ ``high`` in every row where both are present."""

    low: str
    high: str


def read_inequalities(meta: Metadata) -> list[Inequality]:
    """The metadata's ``synth_inequalities``, checked: each names two different columns, both
    numerical or both datetimes in one ``datetime_format`` (not the sequence key or index); in
    visit data a static ``high`` needs a static ``low`` (raising a static value to a per-visit
    one would make it vary within the patient)."""
    spec = meta.extra.get(KEY, [])
    if not isinstance(spec, list):
        raise SynthError(f'metadata: {KEY} must be a list of {{"low": COLUMN, "high": COLUMN}} objects')
    static = set(meta.extra.get("synth_sequence", {}).get("static_columns", [])) if meta.sequence_key else None
    read_implications(meta)  # the entries with "if" (synth.schema.implications), checked here too
    out = []
    for item in spec:
        if isinstance(item, dict) and "if" in item:
            continue
        if not isinstance(item, dict) or set(item) != {"low", "high"}:
            raise SynthError(f'metadata: {KEY} entries must be {{"low": COLUMN, "high": COLUMN}} or '
                             f'{{"if": {{...}}, "then": {{...}}}} (docs/metadata.md), got {item!r}')
        pair = Inequality(str(item["low"]), str(item["high"]))
        for role, col in (("low", pair.low), ("high", pair.high)):
            if col not in meta.columns:
                raise SynthError(f"metadata: {KEY} {role} column '{col}' is not one of the columns")
            if not is_numeric(meta.sdtype(col)) or col in (meta.sequence_key, meta.sequence_index):
                raise SynthError(f"metadata: {KEY} {role} column '{col}' must be a numerical or datetime column "
                                 f"(not the sequence key or index), got {meta.sdtype(col)}")
        if pair.low == pair.high:
            raise SynthError(f"metadata: {KEY} compares column '{pair.low}' with itself")
        low, high = meta.columns[pair.low], meta.columns[pair.high]
        if (low["sdtype"], low.get("datetime_format")) != (high["sdtype"], high.get("datetime_format")):
            raise SynthError(f"metadata: {KEY} columns '{pair.low}' and '{pair.high}' must have the same sdtype "
                             "(and, for datetimes, the same datetime_format)")
        if static is not None and pair.high in static and pair.low not in static:
            raise SynthError(f"metadata: {KEY} high column '{pair.high}' is static, so its low column "
                             f"'{pair.low}' must be static too")
        out.append(pair)
    return out


def check_data(df: pd.DataFrame, pairs: list[Inequality], meta: Metadata, source: str) -> None:
    """Stop ``fit`` if a real row breaks a stated inequality or implication (the metadata would
    not be a fact).

    Privacy assumption: the error names the columns and the rule, never a row or how many; nothing
    is released.
    """
    check_implications(df, read_implications(meta), meta, source)
    cols = sorted({c for p in pairs for c in (p.low, p.high)})
    if not cols:
        return
    values = coerce_frame(df.rename(columns=str)[cols], Metadata(columns={c: meta.columns[c] for c in cols}), source)
    for pair in pairs:
        if (values[pair.low] > values[pair.high]).any():
            raise SynthError(f"{source}: column '{pair.low}' exceeds '{pair.high}' in some rows, but the "
                             f"metadata's {KEY} says {pair.low} <= {pair.high}; {FIX_IN_METADATA}")
