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

    def logits(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        h = z if self.embed is None else torch.cat([z, self.embed(y)], dim=1)
        return self.out(self.body(h))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None, tau: float = 0.2, hard: bool = True) -> torch.Tensor:
        """Encoded rows. Softmax blocks are Gumbel-softmax draws (one-hot when ``hard``)."""
        return self.draw(self.logits(z, y), tau, hard)

    def draw(self, raw: torch.Tensor, tau: float = 0.2, hard: bool = True) -> torch.Tensor:
        """Logits → encoded rows (tanh blocks; Gumbel-softmax draws for softmax blocks)."""
        parts, noise = [], {}
        for span, group in zip(self.spans, self.noise_groups):
            block = raw[:, span.start:span.start + span.width]
            if span.activation == "tanh":
                parts.append(torch.tanh(block))
                continue
            if group not in noise:
                u = torch.rand_like(block).clamp_(1e-12, 1 - 1e-12)
                noise[group] = -torch.log(-torch.log(u))
            soft = F.softmax((block + noise[group]) / tau, dim=1)
            if hard:  # straight-through: one-hot forward, soft gradient
                onehot = F.one_hot(soft.argmax(dim=1), span.width).to(soft.dtype)
                soft = onehot - soft.detach() + soft
            parts.append(soft)
        return torch.cat(parts, dim=1)


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
