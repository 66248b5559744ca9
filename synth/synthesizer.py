"""``Synthesizer``: fit / sample / save / load — the one object the CLI and notebooks share.

Data flows one way: metadata → domain (public or DP, in the ledger) → encoder → DP training →
model file → sampling → CSV + ``<csv>.privacy.json``.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import pandas as pd

from synth.privacy.domain import Domain, build_domain, default_delta
from synth.encode.table import TableEncoder
from synth.errors import SynthError, SynthWarning
from synth.io.atomic import atomic_path, atomic_write_text
from synth.schema.inequalities import (Inequality, apply_inequalities, ceilings, check_data, check_never_lowered,
                               read_inequalities)
from synth.schema.metadata import REVIEW, Metadata
from synth.io.csv_out import write_csv_chunks
from synth.io.memory import check_file_fits_in_memory, check_fits_in_memory
from synth.io.modelfile import check_sizes, file_sha256, package_versions, read_model, write_model
from synth.models import Generator
from synth.notebook import synthesizer_html
from synth.models.marginal_loss import MarginalLoss
from synth.privacy.class_sizes import NoisyCounts
from synth.privacy.ledger import Ledger
from synth.privacy.randomness import NoiseSource
from synth.privacy.marginals import MARGINAL_SHARE
from synth.privacy.pair_tables import release_tables
from synth.models.sampling import sample_chunks
from synth.models.device import resolve_device
from synth.distributed.group import SINGLE, Ranks, check_same, join, leave, shared_secret, sum_across
from synth.privacy.shards import counting_shards
from synth.models.train import NO_LABEL, Progress, TrainConfig, train_acgan
from synth.schema.sequence import SequenceLayout, slot_name
from synth.encode.sequence import SequenceEncoder, prepare_sequences
from synth.schema.validate import MODELLED, category_key, check_columns, check_label, coerce_frame, read_csv

__all__ = ["Synthesizer", "default_delta", "resolve_device"]

MAX_ROWS = 10**9  # about 100 GB of CSV for a trial table


def _inequality_rule(meta: Metadata, domain: Domain) -> tuple[list[Inequality], dict[str, float], dict]:
    """The metadata's inequalities with each constrained column's ceiling and released domain (a
    visit column's domain is its first slot's)."""
    pairs = read_inequalities(meta)
    doms = {c.name: c for c in domain.columns}
    cols = {c: doms[c] if c in doms else doms[slot_name(c, 0)] for p in pairs for c in (p.low, p.high)}
    ceiling = ceilings(pairs, cols)
    end = (meta.extra.get("synth_sequence") or {}).get("follow_up_end") if meta.sequence_key else None
    if end is not None:  # visits are ended at its value before the inequalities run
        check_never_lowered(end, ceiling, cols, "it is synth_sequence.follow_up_end and visits are ended at it first")
    return pairs, ceiling, cols


def _fingerprint(ledger: Ledger, domain: Domain, marginals: MarginalLoss | None) -> str:
    """What every rank of a distributed fit must have released alike (:func:`check_same`)."""
    tables = [] if marginals is None else [np.asarray(t.counts).tobytes().hex() for t in marginals.tables]
    return json.dumps([ledger.to_dict(), domain.to_dict(), tables], sort_keys=True, default=str)


class Synthesizer:
    """A differentially private AC-GAN synthesizer for one row per patient.

    Parameters: ``epsilon`` (> 0, ``math.inf`` for no privacy), ``delta`` (default
    :func:`default_delta` of the released or public number of patients), ``label`` (a
    categorical column to condition on, or None), and the training options of
    :class:`synth.models.train.TrainConfig` (``epochs``, ``batch_size``, ``seed`` …). ``seed`` fixes
    post-processing only (initialisation, the generator's draws); the noise of every mechanism
    on real data comes from OS entropy. ``noise_seed`` (research runs only) fixes that noise
    too: it is never stored, and the ledger says the guarantee then assumes it is secret.
    ``device`` (``"auto"``: CUDA when present, else the CPU; ``"cpu"``; ``"cuda"``) is where
    training and sampling run; it changes neither the ledger nor what a seed samples.
    """

    def __init__(self, epsilon: float = 1.0, delta: float | None = None, label: str | None = None,
                 noise_seed: int | None = None, device: str = "auto", **train: Any):
        epsilon = float(epsilon)
        if not epsilon > 0:
            raise SynthError(f"--epsilon must be > 0 (or inf for no privacy), got {epsilon}")
        if delta is not None and not 0 < float(delta) < 1:
            raise SynthError(f"--delta must be in (0, 1), got {delta}")
        self._noise_seed = noise_seed  # never stored: not in the config, the ledger or the model file
        unknown = set(train) - set(TrainConfig.__dataclass_fields__)
        if unknown:
            raise SynthError(f"unknown training option '{sorted(unknown)[0]}'")
        independence = train.get("independence")
        if independence is not None and not 0 <= float(independence) < math.inf:
            raise SynthError(f"--independence must be a finite weight >= 0, got {independence}")
        self.epsilon, self.delta, self.label = epsilon, delta, label
        self.device = resolve_device(device)  # where to train and sample: not stored, the ledger is the same
        self.config = TrainConfig(**train)
        self._fitted: dict[str, Any] | None = None
        self._ranks = SINGLE  # after a fit over several processes, only rank 0 writes files

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame | str | Path, metadata: str | Path | dict | Metadata,
            progress: Progress | None = None) -> Synthesizer:
        """Fit on real data. Privacy: only ``build_domain`` (DP, in the ledger) and DP-SGD read it.

        Under torchrun (``WORLD_SIZE`` > 1) this process is one rank of a fit over several
        (:mod:`synth.distributed`): every rank must be given the same data and metadata.
        """
        ranks, device = join(self.device)  # one process, or this rank of a torchrun group
        try:
            self._fit(data, metadata, progress, ranks, device)
        except BaseException:
            leave(ranks, wait=False)
            raise
        leave(ranks)
        self._ranks = ranks
        return self

    def _fit(self, data, metadata, progress: Progress | None, ranks: Ranks, device: str) -> None:
        meta = Metadata.load(metadata)
        unreviewed = meta.unreviewed()
        if unreviewed:
            warnings.warn("metadata drafted by `synth metadata infer` and not reviewed, read off the data: "
                          f"{'; '.join(unreviewed)}. Check each against the protocol or data dictionary, then "
                          f"delete its \"{REVIEW}\" marker", SynthWarning, stacklevel=2)
        source = f"'{data}'" if isinstance(data, (str, Path)) else "the data"
        if isinstance(data, (str, Path)) and Path(data).is_file():
            check_file_fits_in_memory(Path(data), meta, source)
        df = read_csv(str(data)) if isinstance(data, (str, Path)) else data
        check_label(meta, self.label)
        modelled = [c for c, spec in meta.columns.items() if spec["sdtype"] in MODELLED and c != self.label]
        if not modelled:
            raise SynthError("metadata: no column to synthesize" + (f" besides the label '{self.label}'" if self.label
                             else "") + "; it needs a numerical, categorical, boolean or datetime column")
        check_columns(df.rename(columns=str), meta, source)
        inequalities = read_inequalities(meta)
        if len(df) == 0:
            raise SynthError(f"{source} has no rows")
        check_fits_in_memory(len(df), meta, source)
        public_n = meta.public_patients()
        patients = df[meta.sequence_key].nunique() if meta.sequence_key else len(df)
        if public_n is not None and not patients / 10 <= public_n <= 10 * patients:
            warnings.warn(f"metadata: synth_patients states {public_n:,} patients but {source} holds {patients:,}: "
                          "the sample rate, batch size and δ follow the stated number; state the number of "
                          "patients in the data (a published enrolment, say)", SynthWarning, stacklevel=2)
        noise = NoiseSource(self._noise_seed, shared_secret(ranks, device) if ranks.distributed else None, ranks.rank)
        ledger = Ledger(self.epsilon, None if self.delta is None else float(self.delta), public_n,
                        n_patients_source="public (metadata synth_patients)", noise=noise.description)
        rng = noise.numpy  # every release below draws from it; build_domain releases N unless public
        if meta.sequence_key:
            check_data(df, inequalities, meta, source)
            domain, encoder, frame = prepare_sequences(df, meta, self.label, ledger, rng, source)
            blocks = encoder.patient_cell_blocks()
        else:
            frame = coerce_frame(df, meta, source)
            check_data(df, inequalities, meta, source)
            domain = build_domain(frame, meta, self.label, ledger, rng)
            encoder = TableEncoder(domain)
            blocks = encoder.cell_blocks
        _inequality_rule(meta, domain)  # ranges that contradict the inequalities stop here, before the tables
        y = None
        if domain.label is not None:
            # A label value not released by DP discovery gets NO_LABEL: that patient still trains
            # the real/fake head, and stays in the data so the sample rate depends on N alone.
            lookup = {k: i for i, k in enumerate(domain.label.categories)}
            y = frame[self.label].map(lookup).fillna(NO_LABEL).to_numpy(dtype=int)
        x = encoder.encode(frame)
        if len(x) < 2:
            raise SynthError(f"{source} has {len(x)} patient(s); at least 2 are needed")
        n_classes = len(domain.label.categories) if domain.label else 0
        if ranks.distributed:  # from here on each rank holds its shard of the patients
            mine = ranks.shard(len(x))
            x, y = x[mine], None if y is None else y[mine]
        marginals = None
        if self.config.marginal_weight != 0:
            share = MARGINAL_SHARE if self.config.marginal_share is None else self.config.marginal_share
            singles = encoder.label_table_specs() if meta.sequence_key else None
            released = NoisyCounts(np.asarray(domain.label_counts), domain.label_sigma) if n_classes else None
            with counting_shards(sum_across(ranks, device)):  # each shard counted, the sums noised once
                tables, domain.label_proportions = release_tables(
                    x, y, n_classes, blocks, domain.label_proportions, ledger, rng, share, self.config.pair_tables,
                    singles, released, self.config.smooth_tables)
            marginals = MarginalLoss(tables, domain.label_proportions, self.config.independence,
                                     self.config.refine_groups)
        check_same(ranks, _fingerprint(ledger, domain, marginals), "releases", device)
        result = train_acgan(x, y, encoder.spans, n_classes, domain.label_proportions, ledger,
                             self.config, progress if ranks.leader else None, marginals,
                             getattr(encoder, "mask", None), encoder.noise_groups(), noise.torch_on(device), device,
                             ranks)
        self._fitted = {"meta": meta, "domain": domain, "encoder": encoder, "generator": result.generator,
                        "ledger": ledger, "summary": result.summary}

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        if self._fitted is None:
            raise SynthError("this Synthesizer is not fitted: call fit() or Synthesizer.load()")
        return self._fitted

    @property
    def ledger(self) -> Ledger:
        return self._state()["ledger"]

    @property
    def metadata(self) -> Metadata:
        return self._state()["meta"]

    @property
    def domain(self) -> Domain:
        return self._state()["domain"]

    # ------------------------------------------------------------------ sampling
    def _label_index(self, condition: str | dict | None) -> int | None:
        if not condition:
            return None
        if isinstance(condition, str):
            if "=" not in condition:
                raise SynthError(f"--condition must be COLUMN=VALUE, got '{condition}'")
            condition = dict([condition.split("=", 1)])
        if len(condition) != 1:
            raise SynthError("--condition takes one COLUMN=VALUE, on the label column")
        (column, value), = condition.items()
        lab = self.domain.label
        if lab is None or column != lab.name:
            raise SynthError(f"--condition: '{column}' is not the label column "
                             f"({'the model has no label' if lab is None else repr(lab.name)})")
        key = category_key(value)
        if key not in lab.categories:
            raise SynthError(f"--condition: {column}={value} is not one of {lab.values}")
        return lab.categories.index(key)

    def sample(self, n: int, seed: int = 0, condition: str | dict | None = None) -> pd.DataFrame:
        """``n`` synthetic patients (post-processing: costs no privacy)."""
        chunks = list(self._chunks(n, seed, condition))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def _chunks(self, n: int, seed: int, condition, chunk_size: int = 65_536):
        if int(n) < 1:
            raise SynthError(f"-n must be a positive number of rows, got {n}")
        if int(n) > MAX_ROWS:
            raise SynthError(f"-n {n} is more than synth writes in one call ({MAX_ROWS:,}); sample in several files "
                             "with different --seed")
        st = self._state()
        pairs, ceiling, columns = _inequality_rule(st["meta"], st["domain"])
        chunks = sample_chunks(st["generator"], st["encoder"], st["domain"], int(n), seed,
                               self._label_index(condition), chunk_size, self.device)
        return (apply_inequalities(chunk, pairs, ceiling, columns) for chunk in chunks)

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
        chunks = self._chunks(n, seed, condition, chunk_size)
        with atomic_path(path) as tmp:
            write_csv_chunks(tmp, chunks)
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

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model file (after a fit over several processes: rank 0 only, the others return)."""
        st = self._state()
        if not self._ranks.leader:
            return Path(path)
        doc = {"metadata": st["meta"].public_dict(), "domain": st["domain"].to_dict(), "label": self.label,
               "train": st["summary"], "ledger": st["ledger"].to_dict(), "versions": package_versions(),
               "generator": {"noise_dim": self.config.noise_dim, "hidden": self.config.g_hidden}}
        if isinstance(st["encoder"], SequenceEncoder):
            doc["sequence"] = st["encoder"].layout.to_dict()
        weights = {k: v.detach().cpu() for k, v in st["generator"].state_dict().items()}  # sampled on a GPU, maybe
        write_model(path, weights, doc)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Synthesizer:
        """A fitted synthesizer from a model file, sampling on ``device``.

        A file from a stranger is safe to load (see :func:`synth.io.modelfile.read_model`): one
        that does not hold a consistent model gives a SynthError, never a crash or a huge allocation.
        """
        tensors, doc = read_model(path)
        try:
            return cls._from_document(path, tensors, doc, device)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError) as exc:
            if isinstance(exc, SynthError):
                raise
            raise SynthError(f"model file '{path}' does not hold a consistent synth model "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from exc

    @classmethod
    def _from_document(cls, path: str | Path, tensors: dict[str, torch.Tensor], doc: dict,
                       device: str) -> Synthesizer:
        ledger = Ledger.from_dict(doc["ledger"])
        config = {k: v for k, v in doc["train"]["config"].items() if k in TrainConfig.__dataclass_fields__}
        s = cls(epsilon=ledger.target_epsilon, delta=ledger.delta, label=doc["label"], device=device, **config)
        check_sizes(path, tensors, doc)  # before anything is built from the document's numbers
        domain = Domain.from_dict(doc["domain"])
        encoder = (SequenceEncoder(domain, SequenceLayout.from_dict(doc["sequence"])) if doc.get("sequence")
                   else TableEncoder(domain))
        gen = Generator(encoder.spans, encoder.width, len(domain.label.categories) if domain.label else 0,
                        doc["generator"]["noise_dim"], doc["generator"]["hidden"], encoder.noise_groups())
        try:
            gen.load_state_dict(tensors)
        except RuntimeError as exc:
            raise SynthError(f"model file '{path}': weights do not match its schema") from exc
        gen.eval()
        s._fitted = {"meta": Metadata.from_dict(doc["metadata"]), "domain": domain, "encoder": encoder,
                     "generator": gen, "ledger": ledger, "summary": doc["train"]}
        return s

    def info(self) -> dict[str, Any]:
        """Schema, domain sources, ledger and training summary (what ``synth info`` prints)."""
        st = self._state()
        dom: Domain = st["domain"]
        cols = {c.name: {"sdtype": c.sdtype, "domain": c.source,
                         **({"range": [c.lo, c.hi]} if c.kind == "numerical" else {"values": c.values})}
                for c in dom.columns}
        enc = st["encoder"]
        sequence = None
        if isinstance(enc, SequenceEncoder):
            sequence = {**enc.layout.to_dict(), "patients_over_max_visits_dp":
                        dom.released_counts.get("patients_over_max_visits")}
            cols = {k: v for k, v in cols.items() if "@" not in k or k.endswith("@1")}
        return {"label": self.label, "label_values": dom.label.values if dom.label else None,
                "sequence": sequence,
                "inequalities": [f"{p.low} <= {p.high}" for p in read_inequalities(st["meta"])],
                "label_proportions": dom.label_proportions, "columns": cols,
                "ledger": st["ledger"].to_dict(), "train": st["summary"]}

    def _repr_html_(self) -> str:
        """Jupyter's view: the guarantee, schema, ledger and training summary (public content only)."""
        if self._fitted is None:
            return f"<pre>{html.escape(repr(self))}</pre>"
        return synthesizer_html(self.info())

    def __repr__(self) -> str:
        eps = "inf" if math.isinf(self.epsilon) else self.epsilon
        state = "fitted" if self._fitted else "not fitted"
        return f"Synthesizer(epsilon={eps}, label={self.label!r}, {state})"

