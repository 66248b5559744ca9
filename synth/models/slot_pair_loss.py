"""The generator's side of the slot-pair tables (:mod:`synth.release.slot_pairs`).

For each table: every generated patient's cell probabilities at each slot (merged into the
table's groups), each pair of slots j < k weighted as a real patient's would be (1 / the pairs
attended, in expectation over the generator's own attendance pattern), summed over the batch
into a (cells × cells) joint, normalised, and compared with the table's released distribution
(squared distance). Post-processing of released tables: nothing here reads real data.
"""

from __future__ import annotations

import numpy as np
import torch

from synth.encode.table import visit_presence
from synth.models.probabilities import last_dim_softmax
from synth.privacy.marginals import MarginalTable

__all__ = ["SlotPairTerm"]


def _pair_weights(presence: np.ndarray) -> torch.Tensor:
    """(patterns, slots, slots): 1 / (pairs attended) at each attended pair j < k."""
    both = np.triu(presence[:, :, None] * presence[:, None, :], k=1)
    pairs = both.sum(axis=(1, 2), keepdims=True)
    return torch.as_tensor(np.where(pairs > 0, both / np.where(pairs > 0, pairs, 1), 0.0), dtype=torch.float32)


class SlotPairTerm:
    """Σ over slot-pair tables of the squared distance between generated and released joints."""

    def __init__(self, tables: list[MarginalTable]):
        self.items = []
        for t in tables:
            att = t.pooled_by
            n_cells = t.blocks[0].n_cells
            g = t.groups[0] if t.groups else None
            merge = torch.eye(n_cells) if g is None else torch.eye(int(np.max(g)) + 1)[torch.as_tensor(g)]
            target = torch.as_tensor(t.conditional().reshape(merge.shape[1], merge.shape[1]), dtype=torch.float32)
            self.items.append({"blocks": t.blocks, "attendance": (att.start, att.width),
                               "weights": _pair_weights(visit_presence(att, len(t.blocks))), "merge": merge,
                               "target": target})

    def to(self, device: torch.device | str) -> SlotPairTerm:
        for item in self.items:
            for key in ("weights", "merge", "target"):
                item[key] = item[key].to(device)
        return self

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        loss = raw.new_zeros(())
        for item in self.items:
            start, width = item["attendance"]
            p_pattern = last_dim_softmax(raw[:, start:start + width])
            w = torch.einsum("bp,pjk->bjk", p_pattern, item["weights"])  # (B, slots, slots)
            cells = torch.stack([_cells(raw, b) for b in item["blocks"]], dim=1) @ item["merge"]  # (B, slots, groups)
            joint = torch.einsum("bjk,bjx,bky->xy", w, cells, cells)
            joint = joint / w.sum().clamp(min=1e-6)
            loss = loss + ((joint - item["target"]) ** 2).sum()
        return loss


def _cells(raw: torch.Tensor, block) -> torch.Tensor:
    """(B, n_cells): a block's cell probabilities (bins or categories, then missing if any)."""
    p = last_dim_softmax(raw[:, block.start:block.start + block.width])
    if block.missing is None:
        return p
    missing = torch.sigmoid(raw[:, block.missing + 1] - raw[:, block.missing])[:, None]
    return torch.cat([p * (1 - missing), missing], dim=1)
