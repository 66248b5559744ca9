"""The slot-drift term of the marginal loss for every sequence column at once.

:class:`BatchedSlotDrift` computes :func:`synth.models.marginal_loss.slot_drift` summed over
the sequence columns (``tests/privacy/test_visit_tables.py`` compares it with that loop). Like
the rest of the marginal loss it is post-processing: it reads the generator's logits only,
never real data.
"""

from __future__ import annotations

import torch

from synth.encode.table import CellBlock
from synth.models.probabilities import last_dim_softmax, visit_weights

__all__ = ["BatchedSlotDrift", "drift_width", "PRESENT_ONLY"]

# On a stated schedule's slots, a nullable categorical column's slots are compared on their
# present categories only (as a numerical column's bins are), so the drift term leaves each
# slot's missing share to the released tables and the discriminator instead of pulling it to the
# pooled one (issue 48's lead 3, bench/RESULTS.md); visits not on a schedule compare every cell.
# Research switch: False (bench/schedule.py's synth-drift-every-cell arm) compares every cell.
PRESENT_ONLY = True


def drift_width(block: CellBlock, visits: CellBlock) -> int:
    """The cells of ``block`` the drift term compares across slots (its first ones): on a stated
    schedule's slots (``visits`` an attendance pattern), a nullable category's present ones."""
    slots = visits.presence is not None
    return block.width - 1 if PRESENT_ONLY and slots and block.missing_category else block.width


class BatchedSlotDrift:
    """Σ over sequence columns of :func:`synth.models.marginal_loss.slot_drift` (label-weighted),
    all columns sharing a visit-count block at once: their slots padded to one width, one
    product per slot."""

    def __init__(self, sequences: list[tuple[tuple[CellBlock, ...], CellBlock]]):
        groups: dict[tuple, list[tuple[CellBlock, ...]]] = {}
        blocks = {}
        for slots, visits in sequences:  # columns of one width together: no padding
            blocks[(visits.start, visits.width)] = visits
            groups.setdefault((visits.start, visits.width, len(slots), max(b.width for b in slots)), []).append(slots)
        self.groups = []
        for (start, width, _, _), columns in groups.items():
            cells = max(b.width for slots in columns for b in slots)
            index = torch.as_tensor([[[b.start + min(v, b.width - 1) for v in range(cells)] for b in slots]
                                     for slots in columns], dtype=torch.long)  # (columns, slots, cells)
            visits = blocks[(start, width)]
            valid = torch.as_tensor([[[v < drift_width(b, visits) for v in range(cells)] for b in slots]
                                     for slots in columns])
            self.groups.append({"visits": visits, "index": index, "valid": valid})

    def to(self, device: torch.device | str) -> BatchedSlotDrift:
        for g in self.groups:
            g["index"], g["valid"] = g["index"].to(device), g["valid"].to(device)
        return self

    def __call__(self, raw: torch.Tensor, by_label: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        batch, loss = len(raw), raw.new_zeros(())
        for g in self.groups:
            index, valid = g["index"], g["valid"]
            _, present = visit_weights(raw, g["visits"])  # (B, slots): P(visits > k)
            logits = raw.index_select(1, index.reshape(-1)).reshape(batch, *index.shape)
            values = last_dim_softmax(logits.masked_fill(~valid, float("-inf")))  # (B, columns, slots, cells)
            w = present[:, :, None] * by_label[:, None, :]  # (B, slots, classes)
            mass = w.sum(dim=0)  # (slots, classes)
            columns, slots, cells = index.shape
            per_slot = torch.bmm(w.permute(1, 2, 0), values.permute(2, 0, 1, 3).reshape(slots, batch, -1))
            dist = per_slot.reshape(slots, -1, columns, cells).permute(2, 0, 1, 3)  # (columns, slots, classes, cells)
            dist = dist / mass.clamp(min=1e-6)[None, :, :, None]
            share = mass / mass.sum(dim=0).clamp(min=1e-6)  # (slots, classes)
            pooled = (share[None, :, :, None] * dist).sum(dim=1, keepdim=True)
            drift = (share[None] * ((dist - pooled) ** 2).sum(dim=3)).sum(dim=1)  # (columns, classes)
            loss = loss + (weights * drift).sum()
        return loss
