"""Visit sequences: draw only the cells of visit slots a patient can reach (issue 47).

A drawn patient's visit count (or attendance pattern) decides which visit slots can become
visits; the cells of the other slots are never written. :func:`slot_plan` says, from public
metadata only (the encoder's layout and domain), which slots each drawn visit cell reaches,
and :func:`draw_block` draws a block's cells: first every span outside the padded slots (the
visit count among them), then each padded slot's spans for the rows that reach it. Each cell's
draw reads its own pre-drawn uniform and its own row's logits, with the same elementwise
operations as :func:`synth.models.sampling.draw_cells`, so every reached cell is drawn as
before, bit for bit; an unreached cell is 0.

The reached slots are a superset of the kept ones (:meth:`SequenceEncoder.kept_visits`): a
visit count keeps at most its slots (``end_visits`` only drops visits, ``schedule_visits`` keeps
slots below the count), an attendance pattern its attended slots and the first. A rule that
kept a slot past the drawn count or pattern would read an unreached cell's 0: widen
:func:`slot_plan` with it. Post-processing of generated rows only: nothing here reads real data.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["slot_plan", "width_plans", "new_cells", "chosen_cells", "draw_block"]


def slot_plan(encoder) -> dict | None:
    """Which slots each drawn visit cell reaches (``need``: cells × slots, the first always) and
    the padded slot of each position (``slot_of``: slots ≥ 1, as the encoder pads them in
    training); None for an encoder without visit slots. Metadata only."""
    positions = getattr(encoder, "slot_positions", None)
    if positions is None or len(positions) < 2:
        return None
    span, m = encoder.visits_span, len(positions)
    need = np.ones((span.width, m), dtype=bool)  # a cell past the categories (missing): every slot
    if encoder.presence is not None:  # slots: the attended ones
        pattern = np.asarray(encoder.presence) > 0.5
        need[:len(pattern)] = pattern
    else:  # a visit count: the slots below it
        values = np.asarray(encoder.domain_of(encoder.visit_column).values, dtype=float)
        need[:len(values)] = np.arange(m)[None, :] < values[:, None]
    need[:, 0] = True  # the first slot is always kept
    slot_of = {int(p): k for k in range(1, m) for p in positions[k]}
    return {"visits": span.start, "need": torch.as_tensor(need), "slot_of": slot_of}


def _cells(mass: torch.Tensor, threshold: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of the CDF of each row of logits ``mass`` (…, width) at ``threshold`` (…, 1)
    times its total: :func:`synth.models.sampling.draw_cells`' operations, in place."""
    mass.sub_(mass.amax(dim=-1, keepdim=True)).exp_().cumsum_(dim=-1)
    threshold.mul_(mass[..., -1:])
    return torch.searchsorted(mass, threshold, right=True).squeeze_(-1).clamp_(max=width - 1)


def width_plans(layout: dict, plan: dict) -> list[tuple]:
    """Per width group of ``layout["widths"]``: its members outside the padded slots (their
    starts, columns and uniforms), then its members in them (their starts, slots, columns and
    uniforms); the group's member holding the visit count (an index into the first part, or None)."""
    plans = []
    for _, starts, columns, uniforms in layout["widths"]:
        slot = torch.as_tensor([plan["slot_of"].get(s, -1) for s in starts], dtype=torch.long)
        fixed, padded = (slot < 0).nonzero().flatten(), (slot >= 0).nonzero().flatten()
        fixed_starts = [starts[i] for i in fixed.tolist()]
        visits = fixed_starts.index(plan["visits"]) if plan["visits"] in fixed_starts else None
        plans.append((fixed_starts, columns.index_select(0, fixed).reshape(-1), uniforms.index_select(0, fixed),
                      [starts[i] for i in padded.tolist()], slot.index_select(0, padded),
                      columns.index_select(0, padded).reshape(-1), uniforms.index_select(0, padded), visits))
    return plans


def new_cells(plans: list, k: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per width group, the cells of its fixed and its padded members (spans × ``k`` rows; 0)."""
    return [(torch.empty(len(p[0]), k, dtype=torch.long), torch.zeros(len(p[3]), k, dtype=torch.long))
            for p in plans]


def chosen_cells(plans: list, cells: list) -> dict[int, np.ndarray]:
    """Each span's drawn cells by its start (``cells``: :func:`new_cells`, drawn)."""
    chosen: dict[int, np.ndarray] = {}
    for plan, (fixed, padded) in zip(plans, cells):
        chosen.update(zip(plan[0], fixed.numpy()))
        chosen.update(zip(plan[3], padded.numpy()))
    return chosen


def draw_block(layout: dict, plan: dict, plans: list, rows: torch.Tensor, uniform: torch.Tensor,
               cells: list, a: int) -> None:
    """Draw block ``rows`` (the generator's output for rows ``a`` … of the slice, tanh applied)
    into ``cells`` (:func:`new_cells`): the spans outside the padded slots for every row, then
    each padded span for the rows that reach its slot (the others stay 0)."""
    n, b, visits = len(rows), a + len(rows), None
    for (width, *_), (starts, cols, us, *_, at), (drawn, _) in zip(layout["widths"], plans, cells):
        if len(starts) == 0:
            continue
        mass = rows.index_select(1, cols).reshape(n, len(starts), width)
        drawn[:, a:b] = _cells(mass, uniform.index_select(1, us).unsqueeze_(2), width).T
        if at is not None:
            visits = drawn[at, a:b]
    reach = plan["need"].index_select(0, visits)  # rows × slots
    for (width, *_), (_, _, _, starts, slot, cols, us, _), (_, drawn) in zip(layout["widths"], plans, cells):
        if len(starts) == 0:
            continue
        pairs = reach.index_select(1, slot).view(-1).nonzero().squeeze_(1)  # row-major (row, padded member)
        mass = rows.index_select(1, cols).view(-1, width).index_select(0, pairs)
        threshold = uniform.index_select(1, us).view(-1).index_select(0, pairs).unsqueeze_(1)
        block = torch.zeros(n * len(starts), dtype=torch.long).index_put_((pairs,), _cells(mass, threshold, width))
        drawn[:, a:b] = block.view(n, len(starts)).T
