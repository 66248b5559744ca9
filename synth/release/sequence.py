"""Long visits → one row per patient: the visit layout's domain released, the wide frame built.

Privacy assumption: :func:`prepare_sequences` checks the visits against the public metadata
(errors name a column and the constraint, never a value or a count), and only
:func:`synth.release.domain.build_domain` reads the data for a release, on one row per patient.
It sets the ledger's privacy unit to one patient with all of their visits: the guarantee is
void if a later release counts a patient's visits as more than one patient.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth.encode.sequence import SequenceEncoder
from synth.encode.slots import slots_domain, times_domain
from synth.errors import FIX_IN_METADATA, SynthError
from synth.privacy.domain import ColumnDomain
from synth.privacy.ledger import Ledger
from synth.release.domain import UnreleasedDomains, build_domain, describe_unreleased
from synth.schema.columns import ColumnSpec, Schema, resolve_columns
from synth.schema.sdtypes import is_pii
from synth.schema.metadata import Metadata
from synth.schema.sequence import SequenceLayout, order_visits, sequence_layout, to_wide, visit_counts
from synth.schema.slots import check_slots, to_slots_wide
from synth.schema.validate import category_key, coerce_frame

__all__ = ["prepare_sequences"]


_COUNT = "__visit_count"
VISIT_CAP = 1000  # visits per patient beyond this count as this for the DP estimate of max_visits


def _check_all_visits(ordered: pd.DataFrame, schema: Schema, layout: SequenceLayout, source: str) -> None:
    """Every visit (not only the first, which build_domain checks) against the public metadata.

    Errors name the column and the public constraint, never a value or a count; nothing is released.
    """
    for col in layout.temporal:
        s, spec = ordered[col], schema[col]
        if spec.nullable is False and s.isna().any():
            raise SynthError(f"{source}: column '{col}' has missing values at some visits but the metadata says "
                             f"range_is_nullable: false; {FIX_IN_METADATA}")
        values = spec.values if spec.kind == "categorical" else None
        if values is not None:
            unknown = set(s.dropna().unique()) - {category_key(v) for v in values}
            if unknown:
                raise SynthError(f"{source}: column '{col}' holds a value outside its range_values at some visit; "
                                 f"{FIX_IN_METADATA}")


def prepare_sequences(df: pd.DataFrame, meta: Metadata, label: str | None, ledger: Ledger,
                      rng: np.random.Generator, source: str, schema: Schema | None = None):
    """Long visits → (wide Domain, SequenceEncoder, wide frame). Releases go to ``ledger``.
    ``schema``: ``meta``'s columns resolved (:func:`synth.schema.columns.resolve_columns`; else here).

    Privacy assumption: only :func:`build_domain` reads the data, on one row per patient.
    """
    layout = sequence_layout(meta, label)
    schema = resolve_columns(meta) if schema is None else schema
    keys = df[layout.key] if layout.key in df else None
    frame = coerce_frame(df, meta, source, public=True)  # every column in trouble in one error
    ordered = order_visits(frame, keys, layout, source)
    _check_all_visits(ordered, schema, layout, source)
    if layout.slots:
        check_slots(ordered, layout.index, layout.schedule, layout.attendance == "complete", source)
    counts = visit_counts(ordered)
    if len(counts) < 2:
        raise SynthError(f"{source} has fewer than 2 patients; at least 2 are needed")
    first = ordered[ordered.groupby("__patient").cumcount() == 0].reset_index(drop=True)
    pframe = first[layout.static + layout.temporal + [layout.index]].copy()
    pschema = schema.only(pframe.columns)  # the domain of one row per patient
    if layout.max_visits is None:
        pframe[_COUNT] = np.minimum(counts, VISIT_CAP).astype(float)
        pschema = pschema.plus(ColumnSpec(_COUNT, "numerical", integer=True))

    def truncated(domains: dict[str, ColumnDomain]) -> float:
        m = layout.max_visits if layout.max_visits is not None else max(1, int(domains[_COUNT].hi))
        return float((counts > m).sum())

    try:
        base = build_domain(pframe, pschema, label, ledger, rng,
                            extra_counts={"patients_over_max_visits": truncated})
    except UnreleasedDomains as exc:
        if _COUNT not in exc.problems["bounds"]:
            raise
        others = describe_unreleased({**exc.problems, "bounds": [c for c in exc.problems["bounds"] if c != _COUNT]})
        raise SynthError(f"{source}: too few patients to estimate max_visits under DP; give "
                         "\"synth_sequence\": {\"max_visits\": M} in the metadata" + (f"; {others}" if others else "")
                         ) from exc
    if layout.max_visits is None:
        count_dom = next(c for c in base.columns if c.name == _COUNT)
        layout.max_visits = max(1, int(count_dom.hi))
        base.columns = [c for c in base.columns if c.name != _COUNT]
    ledger.privacy_unit = "one patient (all of their visits)"
    if layout.slots:
        domain, wide = slots_domain(base, layout, schema.names), to_slots_wide(ordered, layout)
    else:
        domain, wide = times_domain(base, layout, schema.names), to_wide(ordered, layout)
    domain.pii_columns = [c.name for c in schema if is_pii(c.sdtype)]  # public: written as placeholders
    if label is not None:
        wide[label] = first[label].to_numpy()
    return domain, SequenceEncoder(domain, layout), wide
