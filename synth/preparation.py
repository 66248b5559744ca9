"""From the CSV to the releases: schema checks, the domain, the encoder, the noisy tables.

The first half of a fit, in the data flow's order: the metadata (public) and the table are
checked once; the domain is released (:func:`synth.release.domain.build_domain`, or the visit
layout's :func:`synth.release.sequence.prepare_sequences`), the patients encoded, and the tables
released (:func:`synth.release.pair_tables.release_tables`). What it returns is what training may
use: real rows only as ``x``/``y``, for DP-SGD, and everything else a DP release in the ledger.

Notes
-----
What would void the guarantee: a computation on the table here that is neither a check (whose
message names no value or count of the data) nor a release recorded in the ledger, noise from any
generator but the :class:`~synth.privacy.randomness.NoiseSource` made here, or (over several
processes) releases that differ between ranks, which :func:`synth.distributed.group.check_same`
stops.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from synth.distributed.group import Ranks, check_same, shared_secret, sum_across
from synth.encode.sequence import SequenceEncoder
from synth.encode.table import TableEncoder
from synth.errors import SynthError, SynthWarning
from synth.io.memory import check_file_fits_in_memory, check_fits_in_memory
from synth.models.marginal_loss import MarginalLoss
from synth.models.dp_step import NO_LABEL
from synth.models.train import TrainConfig
from synth.privacy.analysis_tables import ANALYSIS_SHARE, analysis_specs, combine_releases, mean_specs
from synth.privacy.shrinkage import shrunk_time_to_event
from synth.release.attendance import ATTENDANCE_WEIGHT, release_attendance
from synth.privacy.class_sizes import NoisyCounts
from synth.release import slot_pairs as slot_pairs_module
from synth.release.slot_pairs import release_slot_pairs, slot_pair_specs
from synth.privacy.domain import Domain
from synth.privacy.ledger import Ledger, row_privacy_unit
from synth.privacy.marginals import MARGINAL_SHARE, TableSpec
from synth.release.pair_tables import LABEL_PART, TablePlan, release_tables
from synth.release.marginals import Patients
from synth.privacy.resolution import full_resolution, label_stage_steps, sequence_table_specs
from synth.privacy.randomness import NoiseSource
from synth.release.analysis_tables import release_analysis_tables
from synth.release.domain import build_domain
from synth.release.sequence import prepare_sequences
from synth.release.shards import counting_shards
from synth.encode.inequalities import checked_rule
from synth.schema.inequalities import Inequality, check_data, read_inequalities
from synth.schema.columns import Schema, resolve_columns
from synth.schema.metadata import REVIEW, Metadata
from synth.schema.reading import clean_frame
from synth.schema.ranges import check_public_ranges
from synth.schema.sequence import slot_name
from synth.schema.validate import (check_columns, check_label, check_patient_ids, coerce_frame, listed_only,
                                   read_csv)

__all__ = ["PrivacyOptions", "Prepared", "prepare"]


@dataclass(frozen=True)
class PrivacyOptions:
    """The fit's privacy options: the target (ε, δ) (δ None: the default for the released N) and
    ``noise_seed``, a research seed for the secret noise (None: OS entropy; a seed voids the
    guarantee, see :class:`synth.privacy.randomness.NoiseSource`)."""

    epsilon: float
    delta: float | None = None
    noise_seed: int | None = None


@dataclass
class Prepared:
    """What training needs: this process's real rows (``x``, labels ``y``) and the releases."""

    meta: Metadata
    domain: Domain
    encoder: TableEncoder | SequenceEncoder
    x: np.ndarray
    y: np.ndarray | None
    n_classes: int
    marginals: MarginalLoss | None
    ledger: Ledger
    noise: NoiseSource
    label: str | None = None  # the fit's label: the caller's, or a declared analysis's arm
    schema: Schema | None = None  # the metadata resolved once: what the stages after the checks read


def prepare(data: pd.DataFrame | str | Path, metadata: str | Path | dict | Metadata, label: str | None,
            privacy: PrivacyOptions, config: TrainConfig, ranks: Ranks, device: str) -> Prepared:
    """Check the table against the metadata, release its domain and tables into a new ledger.

    Over several processes (``ranks``), every rank calls this with the same data: the releases
    are drawn alike on every rank, the tables counted on this rank's shard of the patients and
    summed across ranks before their noise, and ``x``/``y`` are this rank's shard.
    """
    meta = Metadata.load(metadata)
    schema = resolve_columns(meta)  # the metadata resolved once, for the checks and the stages below
    df, source = _read(data, meta, schema)
    label, schema, inequalities = _check(df, meta, label, source, schema)
    noise = NoiseSource(privacy.noise_seed, shared_secret(ranks, device) if ranks.distributed else None, ranks.rank)
    ledger = Ledger(privacy.epsilon, None if privacy.delta is None else float(privacy.delta), schema.public_patients,
                    n_patients_source="public (metadata synth_patients)", noise=noise.description)
    rng = noise.numpy  # every release below draws from it; build_domain releases N unless public
    if schema.sequence_key:
        check_data(df, inequalities, meta, source)
        domain, encoder, frame = prepare_sequences(df, meta, label, ledger, rng, source, schema)
        check_public_ranges(df, meta, source)  # clipped at encoding: said once, naming the columns only
    else:
        frame = coerce_frame(df, meta, source, public=True)  # every column in trouble in one error
        check_public_ranges(df, meta, source)  # clipped at encoding: said once, naming the columns only
        check_data(df, inequalities, meta, source)
        ledger.privacy_unit = row_privacy_unit(schema.primary_key)
        domain = build_domain(frame, schema, label, ledger, rng)
        encoder = TableEncoder(domain)
    end = encoder.layout.end if isinstance(encoder, SequenceEncoder) else None  # synth_sequence.follow_up_end
    checked_rule(inequalities, domain, end)  # ranges that contradict the inequalities stop here, before the tables
    check_same(ranks, _fingerprint(ledger, domain, None), "domains", device)  # before the tables' collectives
    x, y = _patients(frame, label, domain, encoder, ranks, source)
    p = Prepared(meta, domain, encoder, x, y, domain.n_classes, None, ledger, noise, label, schema)
    if config.marginal_weight != 0:
        p.marginals = _release_tables(p, config, ranks, device)
    check_same(ranks, _fingerprint(ledger, domain, p.marginals), "releases", device)
    return p


def _read(data: pd.DataFrame | str | Path, meta: Metadata, schema: Schema) -> tuple[pd.DataFrame, str]:
    """The table as the metadata's ``synth_read`` says (its columns only, where it says so), and how
    messages name it; warns while the metadata holds fields a draft read off the data."""
    unreviewed = meta.unreviewed()
    if unreviewed:
        warnings.warn("metadata drafted by `synth metadata infer` and not reviewed, read off the data: "
                      f"{'; '.join(unreviewed)}. Check each against the protocol or data dictionary, then "
                      f"delete its \"{REVIEW}\" marker", SynthWarning, stacklevel=5)
    source = f"'{data}'" if isinstance(data, (str, Path)) else "the data"
    if isinstance(data, (str, Path)) and Path(data).is_file():
        check_file_fits_in_memory(Path(data), schema, source)
    read = meta.read_options()  # how to read the export (metadata synth_read; the CLI's options override it)
    df = read_csv(str(data), read) if isinstance(data, (str, Path)) else clean_frame(data, read)
    return listed_only(df, meta), source  # synth_read's drop_unlisted: only the metadata's columns are read


def _check(df: pd.DataFrame, meta: Metadata, label: str | None, source: str, schema: Schema
           ) -> tuple[str | None, Schema, list[Inequality]]:
    """The fit's label (the caller's, or a declared analysis's arm), ``schema`` (the metadata resolved
    once, by the caller) and its inequalities, after the checks of the table against the metadata that
    need no release."""
    if label is None and schema.analysis is not None:
        label = schema.analysis.arm  # a declared analysis: the AC-GAN's class is its arm (a public choice;
        # an arm the metadata says may be missing gets a "missing" class, Domain.n_classes)
    check_label(meta, label)
    if not [c.name for c in schema if c.kind is not None and c.name != label]:
        raise SynthError("metadata: no column to synthesize" + (f" besides the label '{label}'" if label
                         else "") + "; it needs a numerical, categorical, boolean or datetime column")
    check_columns(df.rename(columns=str), meta, source)
    check_patient_ids(df.rename(columns=str), meta, source)  # one row per patient, where the id says so
    inequalities = read_inequalities(meta)
    if len(df) == 0:
        raise SynthError(f"{source} has no rows")
    check_fits_in_memory(len(df), schema, source)
    public_n = schema.public_patients
    patients = df[schema.sequence_key].nunique() if schema.sequence_key else len(df)
    if public_n is not None and not patients / 10 <= public_n <= 10 * patients:  # the count stays unsaid
        warnings.warn(f"metadata: synth_patients states {public_n:,} patients, which differs from the data's "
                      f"number of patients ({source}) by more than a factor of 10: the sample rate, batch size "
                      "and δ follow the stated number; state the number of patients in the data (a published "
                      "enrolment, say)", SynthWarning, stacklevel=5)
    return label, schema, inequalities


def _patients(frame: pd.DataFrame, label: str | None, domain: Domain, encoder: TableEncoder | SequenceEncoder,
              ranks: Ranks, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The encoded patients ``x`` and their label indices ``y``: this rank's shard of them."""
    y = None
    if domain.label is not None:
        # A label value not released by DP discovery gets NO_LABEL: that patient still trains
        # the real/fake head, and stays in the data so the sample rate depends on N alone.
        lookup = {k: i for i, k in enumerate(domain.label.categories)}
        y = frame[label].map(lookup)
        if domain.label.nullable:  # the metadata says the label may be missing: its own class, the last
            y = y.mask(frame[label].isna(), len(domain.label.categories))
        y = np.array(y.fillna(NO_LABEL), dtype=int)  # a writable copy (pandas 3's are views)
    x = encoder.encode(frame)
    if len(x) < 2:
        raise SynthError(f"{source} has fewer than 2 patients; at least 2 are needed")
    if ranks.distributed:  # from here on each rank holds its shard of the patients
        mine = ranks.shard(len(x))
        x, y = x[mine], None if y is None else y[mine]
    return x, y


def _release_tables(p: Prepared, config: TrainConfig, ranks: Ranks, device: str) -> MarginalLoss:
    """The noisy tables (the attendance table first on scheduled slots, then the label and pair
    stages, then a declared analysis's), counted on each rank's shard and noised once, as the
    marginal loss. Updates ``p.domain.label_proportions`` to the post-processed ones."""
    schema, domain, encoder, x, y, n_classes, ledger, label = (p.schema, p.domain, p.encoder, p.x, p.y,
                                                               p.n_classes, p.ledger, p.label)
    rng = p.noise.numpy
    blocks = encoder.patient_cell_blocks() if schema.sequence_key else encoder.cell_blocks
    share = MARGINAL_SHARE if config.marginal_share is None else config.marginal_share
    released = NoisyCounts(np.asarray(domain.label_counts), domain.label_sigma) if n_classes else None
    declared = [] if schema.analysis is None else analysis_specs(schema.analysis, blocks, label)
    analysis_share = (ANALYSIS_SHARE if config.analysis_share is None else config.analysis_share) if declared else 0
    if not 0 <= analysis_share < share:
        raise SynthError(f"analysis_share must be at least 0 and below the tables' share {share:g}, "
                         f"got {analysis_share}")
    declared = declared if analysis_share else []
    rest = share - analysis_share  # every other table's share (cumulative from preprocessing)
    with counting_shards(sum_across(ranks, device)):  # each shard counted, the sums noised once
        block = encoder.attendance_block() if schema.sequence_key else None
        released_first = block is not None and block.width > 1  # slots, attendance not stated complete
        singles = visit_table_specs(encoder, n_classes, ledger, rest,
                                    ATTENDANCE_WEIGHT if released_first else 0) if schema.sequence_key else None
        attendance = _attendance(block, singles, x, n_classes, ledger, rng, rest) if released_first else []
        plan = TablePlan(n_classes, blocks, domain.label_proportions, rest, config.pair_tables, singles, released,
                         config.smooth_tables, _slot_pairs(encoder, x, ledger, rng))
        tables, domain.label_proportions = release_tables(x, y, plan, ledger, rng)
        means = []
        if declared:
            class_sizes = ledger.n_patients * np.asarray(domain.label_proportions or [1.0])
            analysis, means = release_analysis_tables(Patients(x, y, n_classes), declared, ledger, rng, share,
                                                      class_sizes, mean_specs(schema.analysis, blocks, label))
            tables = shrunk_time_to_event(combine_releases(tables, analysis), schema.analysis, label)
    tables += attendance
    return MarginalLoss(tables, domain.label_proportions, config.independence, config.refine_groups, means)


def visit_table_specs(encoder: SequenceEncoder, n_classes: int, ledger: Ledger, share: float,
                      extra: int = 0) -> list[TableSpec]:
    """The label tables of visit sequences: per visit slot or pooled over visits, as the metadata
    says, or on a short public schedule per visit slot where those tables would keep every cell
    (public metadata and the ledger's N only: the choice is post-processing), were ``extra`` more
    steps released with them (the attendance table's)."""
    per_visit = encoder.per_visit_tables()
    if per_visit is None:
        candidate = sequence_table_specs(encoder, per_visit=True)
        slots = [s for s in candidate if s.slots]
        per_visit = full_resolution(slots, len(candidate) + extra, n_classes, ledger, LABEL_PART * share)
        if per_visit:
            return candidate
    return sequence_table_specs(encoder, per_visit=per_visit)


def _attendance(block, specs: list[TableSpec], x: np.ndarray, n_classes: int, ledger: Ledger,
                rng: np.random.Generator, share: float) -> list:
    """The attendance table of scheduled slots (released first, :mod:`synth.release.attendance`),
    its cost counted in steps of the label stage as the resolution rule cuts ``specs``, the
    label tables chosen; the stage then gets the rest of its share."""
    steps = label_stage_steps(specs, n_classes, ledger, LABEL_PART * share, 1)
    return [release_attendance(x, block, ledger, rng, LABEL_PART * share, steps)]


def _slot_pairs(encoder: TableEncoder, x: np.ndarray, ledger: Ledger, rng: np.random.Generator):
    """On scheduled slots, the release of each temporal column's slot-pair table
    (:mod:`synth.release.slot_pairs`) for the pair stage; else None."""
    block = encoder.attendance_block() if isinstance(encoder, SequenceEncoder) else None
    if block is None or not slot_pairs_module.ENABLED:
        return None
    layout, by_name = encoder.layout, {b.column: b for b in encoder.cell_blocks}
    slots = {c: tuple(by_name[slot_name(c, k)] for k in range(layout.max_visits)) for c in layout.temporal}

    def release(released: dict, other_pairs: int, share: float) -> list:
        specs = slot_pair_specs(slots, block, released)
        return release_slot_pairs(x, specs, ledger, rng, share, other_pairs)
    return release


def _fingerprint(ledger: Ledger, domain: Domain, marginals: MarginalLoss | None) -> str:
    """What every rank of a distributed fit must have released alike (:func:`check_same`)."""
    tables = [] if marginals is None else [np.asarray(t.counts).tobytes().hex() for t in marginals.tables]
    return json.dumps([ledger.to_dict(), domain.to_dict(), tables], sort_keys=True, default=str)
