"""The generator's cell probabilities: a column's softmax, and a visit block's weight at each slot.

Shared by the marginal loss's table terms (:mod:`synth.models.batched_tables`), the slot-pair and
slot-drift terms and the generator's output. Post-processing: they read the generator's logits only.
"""

from __future__ import annotations

import torch

from synth.encode.table import CellBlock

__all__ = ["last_dim_softmax", "visit_slots", "visit_weights"]


def last_dim_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension, written out: torch's CPU kernel is several times slower
    on a short last dimension (a column's 2-20 cells). -inf entries get probability 0."""
    shifted = logits - logits.amax(dim=-1, keepdim=True).detach()
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


def visit_slots(v: CellBlock) -> int:
    """How many visit slots a visit block's cells describe (a count's width, or a pattern's length)."""
    return v.width if v.presence is None else len(v.presence[0])


def visit_weights(raw: torch.Tensor, v: CellBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, slots) each: Σ_n P(n)/n over the visit block's cells that have slot k (a patient's
    weight at slot k in a pooled table), and P(slot k present)."""
    p = last_dim_softmax(raw[:, v.start:v.start + v.width])
    if v.presence is None:  # a visit count: column j ↔ j + 1 visits
        per_visit = p / torch.arange(1, v.width + 1, dtype=raw.dtype, device=raw.device)
        return (torch.flip(torch.cumsum(torch.flip(per_visit, [1]), 1), [1]),
                torch.flip(torch.cumsum(torch.flip(p, [1]), 1), [1]))
    attended = torch.as_tensor(v.presence, dtype=raw.dtype, device=raw.device)  # (patterns, slots)
    return (p / attended.sum(dim=1)) @ attended, p @ attended
