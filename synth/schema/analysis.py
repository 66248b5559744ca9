"""The trial's declared analysis: which column is the arm, which are the outcomes.

A trial shares synthetic data so that collaborators can run the trial's own analysis on it (the
effect of the arm on the primary outcome). The metadata declares that analysis at the top level::

    "synth_analysis": {"arm": "treat", "outcomes": ["cd420", "r"], "covariates": ["age", "gender"],
                       "time_to_event": [{"time": "days", "event": "cens"}]}

``arm`` and ``outcomes`` are required; ``outcomes`` may be empty when ``time_to_event`` lists at
least one pair. ``covariates`` and ``time_to_event`` are optional. ``synth evaluate`` measures
how well the synthetic data keep each declared effect (:mod:`synth.eval.analysis`).

Rules, each checked when the metadata is read (one-line :class:`SynthError`):

- the arm is categorical or boolean with at least two public values (``range_values``; a
  boolean's are public by its type). Its first value is the reference level.
- an outcome is numerical with a public ``range_min``/``range_max``, boolean (true is the outcome
  happening), or categorical with exactly two public ``range_values`` (the second is the outcome
  happening: ``[0, 1]`` → 1).
- a covariate is numerical, categorical or boolean.
- a time-to-event pair's ``time`` is numerical with a public range, its ``event`` boolean (true
  is the event) or categorical with two public ``range_values`` (the second is the event:
  ``[0, 1]`` → 1).
- the arm, the outcomes and the covariates are different columns (an outcome may also be a
  time-to-event pair's column: ``cens`` as a binary outcome and as the event); none is an id or
  pii column.
- visit sequences (``sequence_key`` set): every named column is static (listed in
  ``synth_sequence.static_columns``): the analysis has one row per patient.

Privacy assumption: the declaration is public, like the rest of the metadata: it comes from the
protocol or statistical analysis plan, chosen without looking at the data. It is stored verbatim
with the metadata in the model file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from synth.errors import SynthError
from synth.schema.sdtypes import is_categorical, is_id, is_modelled, is_number

if TYPE_CHECKING:
    from synth.schema.metadata import Metadata

__all__ = ["AnalysisDeclaration", "TimeToEvent", "KEY", "ANALYSIS_KEYS", "read_analysis"]

KEY = "synth_analysis"
ANALYSIS_KEYS = ("arm", "outcomes", "covariates", "time_to_event")
_WHERE = f"metadata: {KEY}"
# an outcome may also be a time-to-event pair's column (cens as a binary outcome and as the event)
_OUTCOME_ROLES = {"outcome", "time_to_event time", "time_to_event event"}


@dataclass(frozen=True)
class TimeToEvent:
    """A survival outcome: the follow-up ``time`` and whether the ``event`` happened."""

    time: str
    event: str


@dataclass(frozen=True)
class AnalysisDeclaration:
    """The declared analysis: the effect of ``arm`` on each outcome, adjusted for ``covariates``."""

    arm: str
    outcomes: tuple[str, ...] = ()
    covariates: tuple[str, ...] = ()
    time_to_event: tuple[TimeToEvent, ...] = ()

    def columns(self) -> list[str]:
        """Every column the analysis reads, each once, in declaration order."""
        cols = [self.arm, *self.outcomes, *self.covariates,
                *(c for pair in self.time_to_event for c in (pair.time, pair.event))]
        return list(dict.fromkeys(cols))

    def to_dict(self) -> dict[str, Any]:
        """The metadata's JSON form."""
        out: dict[str, Any] = {"arm": self.arm, "outcomes": list(self.outcomes)}
        if self.covariates:
            out["covariates"] = list(self.covariates)
        if self.time_to_event:
            out["time_to_event"] = [{"time": p.time, "event": p.event} for p in self.time_to_event]
        return out


def read_analysis(meta: Metadata) -> AnalysisDeclaration | None:
    """The metadata's ``synth_analysis``, checked (module doc), or None when it has none."""
    spec = meta.extra.get(KEY)
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise SynthError(f'{_WHERE} must be an object such as {{"arm": COLUMN, "outcomes": [COLUMN, ...]}}')
    unknown = sorted(str(k) for k in spec if k not in ANALYSIS_KEYS)
    if unknown:
        raise SynthError(f"{_WHERE}: unknown key '{unknown[0]}'; the keys are {', '.join(ANALYSIS_KEYS)}")
    if "arm" not in spec:
        raise SynthError(f"{_WHERE} needs an \"arm\": the categorical or boolean column of the randomised arm")
    if "outcomes" not in spec:
        raise SynthError(f"{_WHERE} needs \"outcomes\": a list of outcome columns (it may be empty when "
                         "\"time_to_event\" is given)")
    arm = _name(spec["arm"], "arm")
    outcomes = tuple(_name(c, "outcomes") for c in _names(spec["outcomes"], "outcomes"))
    covariates = tuple(_name(c, "covariates") for c in _names(spec.get("covariates", []), "covariates"))
    pairs = spec.get("time_to_event", [])
    if not isinstance(pairs, list):
        raise SynthError(f'{_WHERE}.time_to_event must be a list of {{"time": COLUMN, "event": COLUMN}} objects')
    tte = []
    for pair in pairs:
        if not isinstance(pair, dict) or set(pair) != {"time", "event"}:
            raise SynthError(f'{_WHERE}.time_to_event entries must be {{"time": COLUMN, "event": COLUMN}}, '
                             f"got {pair!r}")
        tte.append(TimeToEvent(_name(pair["time"], "time_to_event time"),
                               _name(pair["event"], "time_to_event event")))
    if not outcomes and not tte:
        raise SynthError(f"{_WHERE}.outcomes is empty and no time_to_event is given: declare at least one outcome")
    decl = AnalysisDeclaration(arm, outcomes, covariates, tuple(tte))
    _check(decl, meta)
    return decl


def _names(value: Any, role: str) -> list:
    if not isinstance(value, list):
        raise SynthError(f"{_WHERE}.{role} must be a list of column names, got {value!r}")
    return value


def _name(value: Any, role: str) -> str:
    if not isinstance(value, str) or not value:
        raise SynthError(f"{_WHERE} {role} must name a column (a string), got {value!r}")
    return value


def _check(decl: AnalysisDeclaration, meta: Metadata) -> None:
    from synth.schema.validate import _suggest  # validate imports metadata, which imports this module

    roles = [("arm", decl.arm), *(("outcome", c) for c in decl.outcomes), *(("covariate", c) for c in decl.covariates),
             *(x for p in decl.time_to_event for x in (("time_to_event time", p.time), ("time_to_event event", p.event)))]
    seen: dict[str, str] = {}
    for role, col in roles:
        if col not in meta.columns:
            raise SynthError(f"{_WHERE} {role} '{col}' is not one of the columns{_suggest(col, list(meta.columns))}")
        if col in seen and not (seen[col] != role and {seen[col], role} <= _OUTCOME_ROLES):
            raise SynthError(f"{_WHERE}: column '{col}' is named twice (as {seen[col]} and as {role}); "
                             "the arm, the outcomes and the covariates are different columns")
        seen.setdefault(col, role)
        sdtype = meta.sdtype(col)
        if not is_modelled(sdtype):
            article = "an" if is_id(sdtype) else "a"
            raise SynthError(f"{_WHERE} {role} '{col}' is {article} {sdtype} column; ids and pii are never modelled")
    _check_arm(decl.arm, meta)
    for col in decl.outcomes:
        if is_number(meta.sdtype(col)):
            _public_range(col, "outcome", meta)
        elif is_categorical(meta.sdtype(col)):
            _binary(col, "outcome", meta)
        else:
            raise SynthError(f"{_WHERE} outcome '{col}' is {meta.sdtype(col)}; an outcome must be numerical, "
                             "boolean or binary categorical")
    for col in decl.covariates:
        if not (is_number(meta.sdtype(col)) or is_categorical(meta.sdtype(col))):
            raise SynthError(f"{_WHERE} covariate '{col}' is {meta.sdtype(col)}; a covariate must be numerical, "
                             "categorical or boolean")
    for pair in decl.time_to_event:
        if not is_number(meta.sdtype(pair.time)):
            raise SynthError(f"{_WHERE} time_to_event time '{pair.time}' is {meta.sdtype(pair.time)}; it must be "
                             "numerical (the follow-up time)")
        _public_range(pair.time, "time_to_event time", meta)
        if not is_categorical(meta.sdtype(pair.event)):
            raise SynthError(f"{_WHERE} time_to_event event '{pair.event}' is {meta.sdtype(pair.event)}; it must "
                             "be boolean or binary categorical")
        _binary(pair.event, "time_to_event event", meta)
    if meta.sequence_key is not None:
        spec = meta.extra.get("synth_sequence")
        static = spec.get("static_columns") if isinstance(spec, dict) else None
        static = static if isinstance(static, list) else []
        for role, col in roles:
            if col not in static:
                raise SynthError(f"{_WHERE} {role} '{col}' must be a static column (listed in "
                                 "synth_sequence.static_columns): the analysis has one row per patient")


def _check_arm(arm: str, meta: Metadata) -> None:
    if not is_categorical(meta.sdtype(arm)):
        raise SynthError(f"{_WHERE} arm '{arm}' is {meta.sdtype(arm)}; the arm must be categorical or boolean")
    values = meta.public_values(arm)
    if values is None:
        raise SynthError(f"{_WHERE} arm '{arm}' has no public values: list the arms as its range_values "
                         "(the arm's values must be public)")
    if len(set(map(str, values))) < 2:
        raise SynthError(f"{_WHERE} arm '{arm}' needs at least 2 values in its range_values, got {values!r}")


def _public_range(col: str, role: str, meta: Metadata) -> None:
    if meta.public_bounds(col) is None:
        raise SynthError(f"{_WHERE} {role} '{col}' needs a public range_min and range_max")


def _binary(col: str, role: str, meta: Metadata) -> None:
    values = meta.public_values(col)
    if values is None:
        raise SynthError(f"{_WHERE} {role} '{col}' has no public values: list its 2 values as range_values "
                         "(the second is the outcome or event happening)")
    if len(set(map(str, values))) != 2:
        raise SynthError(f"{_WHERE} {role} '{col}' must be binary: 2 range_values (the second is the outcome "
                         f"or event happening), got {len(values)}")
