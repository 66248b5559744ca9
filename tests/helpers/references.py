"""Slow, obviously correct references that the package's fast paths are tested against."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from synth.models.marginal_loss import MarginalLoss, pooled_cells, soft_cells, visit_slot_cells
from synth.models.networks import Generator


def table_terms_reference(loss_fn: MarginalLoss, raw: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """The tables' term of ``loss_fn`` (a MarginalLoss), table by table: the slow, obviously correct
    version of its :attr:`batched`."""
    n_classes = len(loss_fn.weights)
    whole = torch.ones(len(raw), 1)
    by_label = whole if y is None else F.one_hot(y, n_classes).float()
    loss = raw.new_zeros(())
    for table, target, merges in zip(loss_fn.tables, loss_fn.targets, loss_fn.merges):
        onehot = by_label if table.by_label else whole
        count = onehot.sum(dim=0)
        weights = loss_fn.weights if table.by_label and y is not None else torch.ones(1)
        if table.pooled_by is not None:
            pooled = pooled_cells(raw, table.blocks, table.pooled_by, table.spec.phases)
            probs = [pooled if merges[0] is None else pooled @ merges[0]]
        else:
            spec = table.spec
            cells = [visit_slot_cells(raw, b, spec.present_by, spec.slots[i]) if spec.absent(i)
                     else soft_cells(raw, b) for i, b in enumerate(table.blocks)]
            probs = [c if m is None else c @ m for c, m in zip(cells, merges)]
        if len(probs) == 1:
            joint = onehot.T @ probs[0]
        else:
            joint = torch.einsum("bc,bi,bj->cij", onehot, probs[0], probs[1])
        cond = joint / count.clamp(min=1).view(-1, *([1] * len(probs)))
        sq = ((cond - target) ** 2).reshape(len(count), -1).sum(dim=1)
        loss = loss + ((count > 0).float() * weights * sq).sum()
    return loss


def draw_reference(gen: Generator, raw: torch.Tensor, tau: float = 0.2, hard: bool = True,
                   uniform: torch.Tensor | None = None) -> torch.Tensor:
    """:meth:`Generator.draw` block by block: the slow, obviously correct version."""
    parts, noise, offset = [], {}, 0
    for span, group in zip(gen.spans, gen.noise_groups):
        block = raw[:, span.start:span.start + span.width]
        if span.activation == "tanh":
            parts.append(torch.tanh(block))
            continue
        if group not in noise:
            u = (torch.rand_like(block) if uniform is None else uniform[:, offset:offset + span.width])
            offset += span.width
            noise[group] = -torch.log(-torch.log(u.clamp(1e-12, 1 - 1e-12)))
        soft = F.softmax((block + noise[group]) / tau, dim=1)
        if hard:
            onehot = F.one_hot(soft.argmax(dim=1), span.width).to(soft.dtype)
            soft = onehot - soft.detach() + soft
        parts.append(soft)
    return torch.cat(parts, dim=1)
