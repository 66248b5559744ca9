"""AC-GAN networks for one row per patient.

Only layers Opacus can compute per-sample gradients for (Linear, LayerNorm); no BatchNorm, no
in-place activations after hooked layers. With ``n_classes == 0`` both nets are unconditional
(no embedding, no class head).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from synth.encode.table import Span
from synth.models.probabilities import last_dim_softmax

__all__ = ["Generator", "Discriminator"]


class Generator(nn.Module):
    """Noise (+ class embedding) → encoded row: tanh for numbers, softmax blocks for categories."""

    def __init__(self, spans: list[Span], width: int, n_classes: int, noise_dim: int = 64, hidden: int = 256,
                 noise_groups: list[int] | None = None):
        super().__init__()
        self.spans = spans
        # Softmax spans in one group share their Gumbel noise (one column across visit slots),
        # so a patient's draws agree where the logits agree: visits stay correlated.
        self.noise_groups = list(range(len(spans))) if noise_groups is None else list(noise_groups)
        self.noise_dim = noise_dim
        self.n_classes = n_classes
        emb = 16 if n_classes else 0
        self.embed = nn.Embedding(n_classes, emb) if n_classes else None
        self.body = nn.Sequential(
            nn.Linear(noise_dim + emb, hidden), nn.LayerNorm(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
        )
        self.out = nn.Linear(hidden, width)
        # Per-class offsets of the output logits, zero while training; set after it by
        # synth.models.calibrate (post-processing: a declared outcome's rate in each arm pinned
        # to the released table). Stored with the weights (model format 9).
        self.register_buffer("class_offsets", torch.zeros(max(n_classes, 1), width))
        # A declared time-to-event pair's joint draw per arm (synth.models.joint_draw; set after
        # training, post-processing; model format 10). None: every span drawn on its own.
        self.joint = None

    def logits(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = z if self.embed is None else torch.cat([z, self.embed(y)], dim=1)
        out = self.out(self.body(h))
        return out if y is None or self.embed is None else out + self.class_offsets[y]

    def forward(self, z: torch.Tensor, y: torch.Tensor | None, tau: float = 0.2, hard: bool = True) -> torch.Tensor:
        """Encoded rows. Softmax blocks are Gumbel-softmax draws (one-hot when ``hard``)."""
        return self.draw(self.logits(z, y), tau, hard)

    def draw(self, raw: torch.Tensor, tau: float = 0.2, hard: bool = True,
             uniform: torch.Tensor | None = None) -> torch.Tensor:
        """Logits → encoded rows (tanh blocks; Gumbel-softmax draws for softmax blocks), every
        block at once. ``uniform`` (B, :attr:`noise_width`) fixes the Gumbel noise (tests);
        ``tests/helpers/references.py: draw_reference`` is the same block by block."""
        lay = self._draw_layout(raw.device)
        batch = len(raw)
        if uniform is None:
            uniform = torch.rand(batch, lay["noise_width"], device=raw.device)
        gumbel = -torch.log(-torch.log(uniform.clamp(1e-12, 1 - 1e-12)))
        shape = (batch, *lay["index"].shape)
        logits = (raw.index_select(1, lay["index"].reshape(-1)).reshape(shape)
                  + gumbel.index_select(1, lay["noise"].reshape(-1)).reshape(shape)) / tau
        soft = last_dim_softmax(logits.masked_fill(~lay["valid"], float("-inf")))
        if hard:  # straight-through: one-hot forward, soft gradient
            onehot = F.one_hot(soft.argmax(dim=2), shape[2]).to(soft.dtype)
            soft = onehot - soft.detach() + soft
        values = soft.flatten(1).index_select(1, lay["cells"])
        out = raw.new_zeros(raw.shape).index_copy(1, lay["soft_columns"], values)
        return out.index_copy(1, lay["tanh_columns"], torch.tanh(raw.index_select(1, lay["tanh_columns"])))

    @property
    def noise_width(self) -> int:
        return self._draw_layout(torch.device("cpu"))["noise_width"]

    def _draw_layout(self, device: torch.device) -> dict:
        """Indices for :meth:`draw`: each softmax span's columns padded to the widest, their
        Gumbel noise columns (shared within a noise group), the tanh columns."""
        cached = getattr(self, "_layout", None)
        if cached is not None and cached["index"].device == device:
            return cached
        soft = [(s, g) for s, g in zip(self.spans, self.noise_groups) if s.activation != "tanh"]
        width = max((s.width for s, _ in soft), default=1)
        first, noise_width = {}, 0
        index, noise, valid, cells = [], [], [], []
        for i, (span, group) in enumerate(soft):
            if group not in first:
                first[group] = noise_width
                noise_width += span.width
            index.append([span.start + min(k, span.width - 1) for k in range(width)])
            noise.append([first[group] + min(k, span.width - 1) for k in range(width)])
            valid.append([k < span.width for k in range(width)])
            cells += [i * width + k for k in range(span.width)]
        long = dict(dtype=torch.long, device=device)
        self._layout = {
            "index": torch.as_tensor(index or [[0]], **long), "noise": torch.as_tensor(noise or [[0]], **long),
            "valid": torch.as_tensor(valid or [[False]], device=device), "cells": torch.as_tensor(cells, **long),
            "soft_columns": torch.as_tensor([c for s, _ in soft for c in range(s.start, s.start + s.width)], **long),
            "tanh_columns": torch.as_tensor([c for s in self.spans if s.activation == "tanh"
                                             for c in range(s.start, s.start + s.width)], **long),
            "noise_width": max(noise_width, 1)}
        return self._layout

class Discriminator(nn.Module):
    """Encoded row → (real/fake logit, class logits). Trained under DP-SGD by Opacus."""

    def __init__(self, width: int, n_classes: int, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(width, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout),
        )
        self.source = nn.Linear(hidden, 1)
        self.classes = nn.Linear(hidden, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.body(x)
        return self.source(h).squeeze(-1), None if self.classes is None else self.classes(h)
