"""``Synthesizer``: fit / sample / save / load — the one object the CLI and notebooks share.

Data flows one way: metadata → domain (public or DP, in the ledger) → encoder → DP training →
model file → sampling → CSV + ``<csv>.privacy.json``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import pandas as pd

from synth.distributed.group import SINGLE, Ranks, join, leave
from synth.encode.sequence import SequenceEncoder
from synth.encode.table import TableEncoder
from synth.errors import SynthError, budget_error
from synth.io.modelfile import check_sizes, package_versions, read_model, write_model
from synth.models import Generator
from synth.models.device import resolve_device
from synth.models.joint_draw import JointDraws, PairCells, draw_pairs_jointly
from synth.models.train import Progress, TrainConfig, TrainInputs, train_acgan
from synth.notebook import synthesizer_html
from synth.options import check_options
from synth.outcome_calibration import calibrate_outcomes  # called by this module's name (tests patch it here)
from synth.preparation import PrivacyOptions, prepare
from synth.privacy.domain import Domain
from synth.privacy.ledger import Ledger
from synth.sample.face import SamplingFace
from synth.schema.implications import read_implications
from synth.schema.inequalities import read_inequalities
from synth.schema.metadata import Metadata
from synth.schema.sdtypes import is_pii
from synth.schema.sequence import SequenceLayout
from synth.threads import use_threads

__all__ = ["Synthesizer"]

# What a fit does before its first GAN epoch, in order (for Synthesizer.fit's ``stage`` callback).
STAGES = ("releasing the domain and the tables under DP",
          "fitting the generator to the released tables, then training with DP-SGD")
class Synthesizer(SamplingFace):
    """A differentially private AC-GAN synthesizer for one row per patient.

    Parameters: ``epsilon`` (> 0, ``math.inf`` for no privacy), ``delta`` (default
    :func:`synth.privacy.domain.default_delta` of the released or public number of patients),
    ``label`` (a categorical column to condition on, or None), and the training options of
    :class:`synth.models.train.TrainConfig` (``epochs``, ``batch_size``, ``seed`` …). ``seed`` fixes
    post-processing only (initialisation, the generator's draws); the noise of every mechanism
    on real data comes from OS entropy. ``noise_seed`` (research runs only) fixes that noise
    too: it is never stored, and the ledger says the guarantee then assumes it is secret.
    ``device`` (``"auto"``: CUDA when present, else the CPU; ``"cpu"``; ``"cuda"``) is where
    training and sampling run; it changes neither the ledger nor what a seed samples.
    """

    def __init__(self, epsilon: float = 1.0, delta: float | None = None, label: str | None = None,
                 noise_seed: int | None = None, device: str = "auto", threads: int | None = None, **train: Any):
        epsilon = check_options(epsilon, delta, train.get("independence"))
        self._noise_seed = noise_seed  # never stored: not in the config, the ledger or the model file
        unknown = set(train) - set(TrainConfig.__dataclass_fields__)
        if unknown:
            raise SynthError(f"unknown training option '{sorted(unknown)[0]}'")
        self.epsilon, self.delta, self.label = epsilon, delta, label
        self.device = resolve_device(device)  # where to train and sample: not stored, the ledger is the same
        self.threads = use_threads(threads)  # torch's threads here, at fit and at sample: not stored either
        self.config = TrainConfig(**train)
        self._fitted: dict[str, Any] | None = None
        self._ranks = SINGLE  # after a fit over several processes, only rank 0 writes files

    # ------------------------------------------------------------------ fit
    def fit(self, data: pd.DataFrame | str | Path, metadata: str | Path | dict | Metadata,
            progress: Progress | None = None, stage: Callable[[str], None] | None = None) -> Synthesizer:
        """Fit on real data. Privacy: only ``build_domain`` (DP, in the ledger) and DP-SGD read it.

        ``progress(epoch, epochs, g_loss, ε spent)`` is called after each GAN epoch; ``stage(name)``
        as each stage before them starts (``STAGES``: the releases, then the generator's fit to the
        tables and DP-SGD), so a caller can say what runs from the first second. Nothing about
        their timing is kept.

        Under torchrun (``WORLD_SIZE`` > 1) this process is one rank of a fit over several
        (:mod:`synth.distributed`): every rank must be given the same data and metadata.
        """
        use_threads(self.threads)  # the count this synthesizer was given (another may have changed torch's)
        ranks, device = join(self.device)  # one process, or this rank of a torchrun group
        try:
            self._fit(data, metadata, progress, ranks, device, stage)
        except SynthError as exc:
            leave(ranks, wait=False)
            said = budget_error(exc, self.epsilon)
            if said is exc:
                raise
            raise said from exc
        except BaseException:
            leave(ranks, wait=False)
            raise
        leave(ranks)
        self._ranks = ranks
        return self

    def _fit(self, data, metadata, progress: Progress | None, ranks: Ranks, device: str,
             stage: Callable[[str], None] | None = None) -> None:
        say = stage if stage is not None and ranks.leader else (lambda name: None)
        say(STAGES[0])
        p = prepare(data, metadata, self.label, PrivacyOptions(self.epsilon, self.delta, self._noise_seed), self.config,
                    ranks, device)
        self.label = p.label  # a declared analysis's arm when no label was given
        say(STAGES[1])
        inputs = TrainInputs(p.x, p.y, p.encoder.spans, p.n_classes, p.domain.label_proportions, p.marginals,
                             getattr(p.encoder, "mask", None), p.encoder.noise_groups())
        result = train_acgan(inputs, p.ledger, self.config, progress if ranks.leader else None,
                             p.noise.torch_on(device), device, ranks)
        calibrated = calibrate_outcomes(result.generator, p, self.config.seed)
        if calibrated:
            result.summary["calibrated_outcomes"] = calibrated
        tables = None if p.marginals is None or isinstance(p.encoder, SequenceEncoder) else p.marginals.tables
        joint = draw_pairs_jointly(result.generator, p.schema.analysis, tables, p.label,
                                   p.domain.label_proportions or [1.0], self.config.seed)  # tables of one row a patient
        if joint:
            result.generator.joint.check(p.encoder.spans, p.n_classes)
            result.summary["joint_time_to_event"] = joint
        self._fitted = {"meta": p.meta, "domain": p.domain, "encoder": p.encoder, "generator": result.generator,
                        "ledger": p.ledger, "summary": result.summary}

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

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the model file (after a fit over several processes: rank 0 only, the others return)."""
        st = self._state()
        if not self._ranks.leader:
            return Path(path)
        doc = {"metadata": st["meta"].public_dict(), "domain": st["domain"].to_dict(), "label": self.label,
               "train": st["summary"], "ledger": st["ledger"].to_dict(), "versions": package_versions(),
               "generator": {"noise_dim": self.config.noise_dim, "hidden": self.config.g_hidden}}
        if st["generator"].joint is not None:
            doc["generator"]["joint"] = [p.to_list() for p in st["generator"].joint.pairs]
        if isinstance(st["encoder"], SequenceEncoder):
            doc["sequence"] = st["encoder"].layout.to_dict()
        weights = {k: v.detach().cpu() for k, v in st["generator"].state_dict().items()}  # sampled on a GPU, maybe
        write_model(path, weights, doc)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", threads: int | None = None) -> Synthesizer:
        """A fitted synthesizer from a model file, sampling on ``device``.

        A file from a stranger is safe to load (see :func:`synth.io.modelfile.read_model`): one
        that does not hold a consistent model gives a SynthError, never a crash or a huge allocation.
        """
        tensors, doc = read_model(path)
        try:
            return cls._from_document(path, tensors, doc, device, threads)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError) as exc:
            if isinstance(exc, SynthError):
                raise
            raise SynthError(f"model file '{path}' does not hold a consistent synth model "
                             f"({type(exc).__name__}: {str(exc)[:200]})") from exc

    @classmethod
    def _from_document(cls, path: str | Path, tensors: dict[str, torch.Tensor], doc: dict,
                       device: str, threads: int | None = None) -> Synthesizer:
        ledger = Ledger.from_dict(doc["ledger"])
        config = {k: v for k, v in doc["train"]["config"].items() if k in TrainConfig.__dataclass_fields__}
        s = cls(epsilon=ledger.target_epsilon, delta=ledger.delta, label=doc["label"], device=device, threads=threads,
                **config)
        check_sizes(path, tensors, doc)  # before anything is built from the document's numbers
        domain = Domain.from_dict(doc["domain"])
        if doc.get("sequence") and not domain.pii_columns:  # files before the fix named none: the metadata says
            meta = Metadata.from_dict(doc["metadata"])
            domain.pii_columns = [n for n in domain.all_columns if n in meta.columns and is_pii(meta.sdtype(n))]
        encoder = (SequenceEncoder(domain, SequenceLayout.from_dict(doc["sequence"])) if doc.get("sequence")
                   else TableEncoder(domain))
        gen = Generator(encoder.spans, encoder.width, domain.n_classes,
                        doc["generator"]["noise_dim"], doc["generator"]["hidden"], encoder.noise_groups())
        if "class_offsets" not in tensors and doc.get("format_version", 0) <= 8:  # no calibration: zero offsets
            tensors = {**tensors, "class_offsets": gen.class_offsets.clone()}
        if doc["generator"].get("joint"):
            gen.joint = JointDraws([PairCells(*p) for p in doc["generator"]["joint"]], max(gen.n_classes, 1))
        try:
            gen.load_state_dict(tensors)
        except RuntimeError as exc:
            raise SynthError(f"model file '{path}': weights do not match its schema") from exc
        if gen.joint is not None:
            gen.joint.check(encoder.spans, gen.n_classes)
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
        label_values = [*dom.label.values, *([None] if dom.label.nullable else [])] if dom.label else None
        return {"label": self.label, "label_values": label_values,  # None: the missing class
                "sequence": sequence,
                "inequalities": [f"{p.low} <= {p.high}" for p in read_inequalities(st["meta"])]
                + [r.text for r in read_implications(st["meta"])],
                "analysis": st["meta"].analysis.to_dict() if st["meta"].analysis else None,
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
