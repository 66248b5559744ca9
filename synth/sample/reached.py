"""Visit sequences: the generator's output layer and draws for the visit slots a patient reaches (issue 47).

A drawn patient's visit count (or attendance pattern) decides which visit slots can become
visits. :func:`reached_layout` splits the output layer by columns (metadata only): the columns
outside the padded slots (statics, the visit count, the first visit), then each padded slot's.
:func:`reached_rows` computes, a block of rows at a time, the first group for every row and draws
its cells (the visit count among them), then each slot's output-layer rows (a slice of the
weight) and cells for the patients who reach that slot only. Every reached value is the
reference's (:func:`synth.sample.draw.forward_draw`) bit for bit: a row's product, offsets, tanh
and draws are the same operations on the same numbers, and each cell reads its own pre-drawn
uniform (the uniforms are consumed as before). Unreached columns and cells are 0 (or, in the
few rows that pad a product to :data:`MIN_ROWS` rows, those rows' own values).

What the bits rest on: a matrix product of a subset of rows and of columns gives each element
the whole product's bits, except where the BLAS takes another kernel: fewer than
:data:`MIN_ROWS` rows (padded with other rows here) or few columns (measured: ≤ 11 on MKL).
:func:`reached_layout` checks each group's product against the whole one on probe rows and
returns the layout unchanged (every slot computed) where they differ. The reached slots are a
superset of the kept ones (:meth:`SequenceEncoder.kept_visits` keeps slots below the count, or of
the pattern, and reads a slot's gap only there); a rule that kept a slot past them would read an
unreached 0: widen :func:`slot_plan` with it. Post-processing of generated rows only: nothing
here reads real data.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from synth.models.row_blocks import row_blocks

__all__ = ["slot_plan", "reached_layout", "reached_rows", "MIN_ROWS", "REACHED_BLOCK"]

MIN_ROWS = 4  # a product of 1-3 rows takes another BLAS kernel (synth.models.row_blocks): never fewer
# rows a block: the per-slot calls amortised (forward passes and draws of 10^5 pbcseq patients:
# 512 rows 1.07-1.35 CPU-s, 1,024 0.97-1.09, 2,048 0.94-0.97, 4,096 0.91-1.01; every slot 1.86-2.03)
REACHED_BLOCK = 2_048


class Group(NamedTuple):
    """One group of output columns (``slot`` -1: outside the padded slots): its columns (a range),
    the weight's rows and bias for them, the class offsets, its tanh columns (local) and per
    width group of the layout: (index into ``layout["widths"]``, the run of its members drawn
    here, from and to, their local columns flattened, their uniforms)."""

    slot: int
    start: int
    stop: int
    weight: torch.Tensor
    bias: torch.Tensor
    offsets: torch.Tensor
    tanh: torch.Tensor
    draws: list[tuple[int, int, int, torch.Tensor, torch.Tensor]]


def slot_plan(encoder) -> dict | None:
    """Which slots each drawn visit cell reaches (``need``: cells × slots, the first always) and
    each padded slot's columns (slots ≥ 1); None for an encoder without visit slots. Metadata only."""
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
    return {"visits": span.start, "need": torch.as_tensor(need), "slots": [np.asarray(p) for p in positions[1:]]}


def _ranges(plan: dict, width: int) -> list[tuple[int, int, int]] | None:
    """(slot, start, stop) of the column groups: the rest (slot -1), then slot 1, 2, …; None
    unless each padded slot is one range and the rest one range before them."""
    slots = []
    for k, cols in enumerate(plan["slots"], start=1):
        if len(cols) == 0 or not np.array_equal(cols, np.arange(cols[0], cols[0] + len(cols))):
            return None
        slots.append((k, int(cols[0]), int(cols[0]) + len(cols)))
    slots.sort(key=lambda r: r[1])
    first = slots[0][1]
    if any(b != c for (_, _, b), (_, c, _) in zip(slots, slots[1:])) or slots[-1][2] != width or first == 0:
        return None
    return [(-1, 0, first), *slots]


def _group(gen, layout: dict, slot: int, start: int, stop: int) -> Group:
    tanh = layout["tanh"]
    tanh = tanh[(tanh >= start) & (tanh < stop)] - start
    draws = []
    for w, (width, starts, columns, uniforms) in enumerate(layout["widths"]):
        inside = [i for i, s in enumerate(starts) if start <= s < stop]  # a run: starts ascend
        if inside:
            m0, m1 = inside[0], inside[-1] + 1
            draws.append((w, m0, m1, (columns[m0:m1] - start).reshape(-1), uniforms[m0:m1]))
    weight, bias = gen.out.weight.detach(), gen.out.bias.detach()
    return Group(slot, start, stop, weight[start:stop].contiguous(), bias[start:stop].contiguous(),
                 gen.class_offsets[:, start:stop].contiguous(), tanh, draws)


def _same_bits(gen, groups: list[Group]) -> bool:
    """Whether each group's product of probe rows is the whole product's, bit for bit."""
    probe = torch.Generator().manual_seed(0)
    weight, bias = gen.out.weight.detach(), gen.out.bias.detach()
    for rows in (MIN_ROWS, 64, REACHED_BLOCK):
        h = torch.rand(rows, weight.shape[1], generator=probe)
        whole = torch.addmm(bias, h, weight.T)
        for g in groups:
            if not torch.equal(torch.addmm(g.bias, h, g.weight.T), whole[:, g.start:g.stop]):
                return False
    return True


def reached_layout(layout: dict, gen, encoder) -> dict:
    """``layout`` (:func:`synth.sample.draw._span_layout`) with the groups that compute only
    reached slots (``layout["reached"]``); as it is for a table, on another device than the CPU,
    with a joint draw over a padded slot, or where a group's product would not keep its bits."""
    plan = slot_plan(encoder)
    if plan is None or gen.out.weight.device.type != "cpu":
        return layout
    ranges = _ranges(plan, gen.out.out_features)
    if ranges is None:
        return layout
    first = ranges[0][2]
    if gen.joint is not None and any(max(p.event_start + p.event_width, p.time_start + p.time_width,
                                         p.position + 1) > first for p in gen.joint.pairs):
        return layout
    with torch.inference_mode():
        groups = [_group(gen, layout, *r) for r in ranges]
        if not _same_bits(gen, groups):
            return layout
    w, row = next((w, starts.index(plan["visits"])) for w, (_, starts, _, _) in enumerate(layout["widths"])
                  if plan["visits"] in starts)
    if plan["visits"] >= first:
        return layout
    return {**layout, "reached": {"groups": groups, "need": plan["need"], "visits": (w, row)}}


def reached_rows(gen, layout: dict, z: torch.Tensor, labels: torch.Tensor | None, uniform: torch.Tensor,
                 block: int = REACHED_BLOCK) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
    """The generator's rows of noise ``z`` (tanh applied) and their drawn cells, as
    :func:`synth.sample.draw.forward_draw` gives them, for the columns outside the padded slots
    and the slots each row's drawn visit count or pattern reaches; the other columns and cells
    are 0 (or a padding row's own values). ``block`` rows at a time; at least :data:`MIN_ROWS`
    rows (fewer: use the reference)."""
    k, widths, reached = len(z), layout["widths"], layout["reached"]
    groups, need, (vw, vrow) = reached["groups"], reached["need"], reached["visits"]
    offsets = labels is not None and gen.embed is not None
    with torch.inference_mode():
        out = torch.zeros(k, gen.out.out_features)
        cells = [torch.zeros(len(starts), k, dtype=torch.long) for _, starts, _, _ in widths]
        for a, b in row_blocks(k, block):
            y = None if labels is None else labels[a:b]
            h = gen.body(z[a:b] if gen.embed is None else torch.cat([z[a:b], gen.embed(y)], dim=1))
            y = y if offsets else None
            _draw_group(groups[0], widths, h, y, uniform[a:b], out[a:b], cells, start=a, rows=None)
            reach = need.index_select(0, cells[vw][vrow, a:b])  # rows × slots
            for g in groups[1:]:
                rows = reach[:, g.slot].nonzero().squeeze(1)
                if 0 < len(rows) < MIN_ROWS:  # padded with other rows (their values are theirs too)
                    rows = torch.unique(torch.cat([rows, torch.arange(MIN_ROWS)]))
                if len(rows):
                    _draw_group(g, widths, h.index_select(0, rows), None if y is None else y.index_select(0, rows),
                                uniform[a:b].index_select(0, rows), out[a:b], cells, start=a, rows=rows)
    chosen: dict[int, np.ndarray] = {}
    for (_, starts, _, _), drawn in zip(widths, cells):
        chosen.update(zip(starts, drawn.numpy()))
    return out, chosen


def _draw_group(g: Group, widths: list, h: torch.Tensor, y: torch.Tensor | None, uniform: torch.Tensor,
                out: torch.Tensor, cells: list[torch.Tensor], *, start: int, rows: torch.Tensor | None) -> None:
    """Group ``g``'s columns of hidden rows ``h`` (block rows ``rows``, None: all, the block
    starting at row ``start``) into ``out`` and their drawn cells into ``cells``: the reference's
    operations (``addmm``, the class offsets, tanh, the inverse of the CDF) on these columns."""
    logits = torch.addmm(g.bias, h, g.weight.T)
    if y is not None:
        logits.add_(g.offsets[y])
    if len(g.tanh):
        logits.index_copy_(1, g.tanh, torch.tanh(logits.index_select(1, g.tanh)))
    n = len(logits)
    for w, m0, m1, columns, uniforms in g.draws:
        width = widths[w][0]
        mass = logits.index_select(1, columns).reshape(n, m1 - m0, width)
        mass.sub_(mass.amax(dim=2, keepdim=True)).exp_().cumsum_(dim=2)
        threshold = uniform.index_select(1, uniforms).unsqueeze_(2).mul_(mass[:, :, -1:])
        drawn = torch.searchsorted(mass, threshold, right=True).squeeze_(2).clamp_(max=width - 1).T
        if rows is None:
            cells[w][m0:m1, start:start + n] = drawn
        else:
            cells[w][m0:m1, start:].index_copy_(1, rows, drawn)
    if rows is None:
        out[:, g.start:g.stop] = logits
    else:
        out[:, g.start:g.stop].index_copy_(0, rows, logits)

