"""Sampling from a trained generator: post-processing only, chunked so memory is flat in n.

Nothing here reads real data. Categorical blocks are drawn exactly (the inverse of the CDF of
the generator's softmax) from a seeded ``torch.Generator``, so a seed fixes every value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from synth.privacy.domain import Domain
from synth.encode.table import TableEncoder, category_series
from synth.models import Generator
from synth.models.row_blocks import row_blocks
from synth.sample.reached import MIN_ROWS, reached_layout, reached_rows

__all__ = ["sample_chunks", "input_slices", "draw_slices", "Slice", "decode_rows", "arrow_schema", "SLICE_ROWS",
           "BLOCK_ROWS"]


def _span_layout(gen: Generator, spans) -> dict:
    """The tanh columns; the softmax spans grouped by width (their starts, their columns, the
    uniform each takes: one per noise group, so spans in a group share their draw)."""
    tanh, uniform_of, by_width = [], {}, {}
    for span, group in zip(spans, gen.noise_groups):
        if span.activation == "tanh":
            tanh += range(span.start, span.start + span.width)
            continue
        by_width.setdefault(span.width, []).append((span.start, uniform_of.setdefault(group, len(uniform_of))))
    widths = [(width, [start for start, _ in members],
               torch.as_tensor([[start + j for j in range(width)] for start, _ in members], dtype=torch.long),
               torch.as_tensor([u for _, u in members], dtype=torch.long)) for width, members in by_width.items()]
    uniform_at = {span.start: uniform_of[group] for span, group in zip(spans, gen.noise_groups)
                  if span.activation != "tanh"}
    return {"tanh": torch.as_tensor(tanh, dtype=torch.long), "widths": widths, "uniforms": len(uniform_of),
            "uniform_at": uniform_at}


SLICE_ROWS = 4_096  # rows per slice: the unit a thread draws and decodes (issue 47)
BLOCK_ROWS = 256  # rows per forward pass and draw within a slice: a block's logits stay in the cache (issue 47)


def chunk_inputs(gen: Generator, layout: dict, k: int, rng: torch.Generator, probs: torch.Tensor | None = None,
                 label_index: int | None = None) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """One chunk's random inputs, in the order the sampler has always drawn them: the labels
    (from ``probs``, or all ``label_index``; None without a label), the noise, the uniforms of
    the categorical draws. Drawn per chunk, they make the rows independent of the slice size."""
    labels = None
    if probs is not None:
        labels = (torch.full((k,), label_index, dtype=torch.long) if label_index is not None
                  else torch.multinomial(probs, k, replacement=True, generator=rng))
    z = torch.randn(k, gen.noise_dim, generator=rng)  # drawn on the CPU: a seed samples the same rows anywhere
    return labels, z, torch.rand(k, layout["uniforms"], generator=rng)


def forward_rows(gen: Generator, layout: dict, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """The generator's output for noise ``z`` (on the CPU), tanh applied to the numbers' offsets."""
    device = gen.out.weight.device
    with torch.inference_mode():
        out = gen.logits(z.to(device), None if labels is None else labels.to(device)).cpu()
        tanh = layout["tanh"]
        return out.index_copy_(1, tanh, torch.tanh(out.index_select(1, tanh)))


def draw_cells(layout: dict, out: torch.Tensor, uniform: torch.Tensor) -> dict[int, np.ndarray]:
    """Each softmax span's drawn cell (by its start column), an exact draw from the generator's
    softmax in ``out`` by the inverse of its CDF at ``uniform``."""
    k, chosen = len(out), {}
    with torch.inference_mode():
        for width, starts, columns, uniforms in layout["widths"]:
            mass = out.index_select(1, columns.reshape(-1)).reshape(k, len(starts), width)  # a copy: the logits
            mass.sub_(mass.amax(dim=2, keepdim=True)).exp_().cumsum_(dim=2)  # the unnormalised CDF, in place
            threshold = uniform.index_select(1, uniforms).unsqueeze_(2).mul_(mass[:, :, -1:])
            cells = torch.searchsorted(mass, threshold, right=True).squeeze_(2).clamp_(max=width - 1)
            chosen.update(zip(starts, cells.T.contiguous().numpy()))  # (spans, k)
    return chosen


def forward_draw(gen: Generator, layout: dict, z: torch.Tensor, labels: torch.Tensor | None,
                 uniform: torch.Tensor, block: int | None = BLOCK_ROWS) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The rows of noise ``z`` (:func:`forward_rows`) and their drawn cells (:func:`draw_cells`).
    Row by row: a slice of the inputs gives the same slice of the rows. On the CPU, ``block``
    rows at a time (:func:`_blocked`: the same values; None: all at once, the reference). With
    ``layout["reached"]`` (visit sequences, :func:`synth.sample.reached.reached_layout`), only the
    visit slots each row reaches (:func:`synth.sample.reached.reached_rows`: the others are 0)."""
    if block is None or gen.out.weight.device.type != "cpu":
        out = forward_rows(gen, layout, z, labels)
        chosen = draw_cells(layout, out, uniform)
    elif "reached" in layout and len(z) >= MIN_ROWS:
        out, chosen = reached_rows(gen, layout, z, labels, uniform)
    else:
        out, chosen = _blocked(gen, layout, z, labels, uniform, block)
    if gen.joint is not None and labels is not None:  # a declared time-to-event pair, drawn jointly per arm
        with torch.inference_mode():
            gen.joint.redraw(out, chosen, labels, uniform, layout["uniform_at"])
    return out.numpy(), chosen


def _blocked(gen: Generator, layout: dict, z: torch.Tensor, labels: torch.Tensor | None, uniform: torch.Tensor,
             block: int) -> tuple[torch.Tensor, dict[int, np.ndarray]]:
    """:func:`forward_rows` and :func:`draw_cells`, ``block`` rows at a time into arrays made
    once, so each block's logits stay in the cache through its draws: the same operations row
    by row (``Generator.logits``' linear layer is the ``addmm`` ``F.linear`` calls), the same
    values (:func:`synth.models.row_blocks.row_blocks`: no block of fewer rows than ``block``)."""
    k, widths, tanh = len(z), layout["widths"], layout["tanh"]
    offsets = labels is not None and gen.embed is not None
    with torch.inference_mode():
        out = torch.empty(k, gen.out.out_features)
        cells = [torch.empty(len(starts), k, dtype=torch.long) for _, starts, _, _ in widths]
        weight = gen.out.weight.T
        for a, b in row_blocks(k, block):
            y = None if labels is None else labels[a:b]
            h = z[a:b] if gen.embed is None else torch.cat([z[a:b], gen.embed(y)], dim=1)
            rows = torch.addmm(gen.out.bias, gen.body(h), weight, out=out[a:b])
            if offsets:
                rows.add_(gen.class_offsets[y])
            rows.index_copy_(1, tanh, torch.tanh(rows.index_select(1, tanh)))
            for (width, starts, columns, uniforms), drawn in zip(widths, cells):
                mass = rows.index_select(1, columns.reshape(-1)).reshape(len(rows), len(starts), width)
                mass.sub_(mass.amax(dim=2, keepdim=True)).exp_().cumsum_(dim=2)
                threshold = uniform[a:b].index_select(1, uniforms).unsqueeze_(2).mul_(mass[:, :, -1:])
                drawn[:, a:b] = torch.searchsorted(mass, threshold, right=True).squeeze_(2).clamp_(
                    max=width - 1).T
    chosen: dict[int, np.ndarray] = {}
    for (_, starts, _, _), drawn in zip(widths, cells):
        chosen.update(zip(starts, drawn.numpy()))
    return out, chosen


def _draw_rows(gen: Generator, encoder: TableEncoder, labels: torch.Tensor | None, k: int,
               rng: torch.Generator, layout: dict | None = None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """k rows from ``rng`` (:func:`forward_draw` on all of them at once: the reference the sliced
    sampler is tested against); spans in one noise group share their uniform, as they share
    their Gumbel noise in training, so equal probabilities give equal draws."""
    layout = layout or _span_layout(gen, encoder.spans)
    z = torch.randn(k, gen.noise_dim, generator=rng)
    return forward_draw(gen, layout, z, labels, torch.rand(k, layout["uniforms"], generator=rng), block=None)


class Slice(NamedTuple):
    """A slice of one chunk's random inputs (:func:`chunk_inputs`), to be drawn (:meth:`draw`)."""

    first: int  # the 0-based number of its first row (patient)
    labels: torch.Tensor | None
    z: torch.Tensor
    uniform: torch.Tensor
    gen: Generator
    layout: dict

    def draw(self) -> tuple[int, np.ndarray | None, np.ndarray, dict[int, np.ndarray]]:
        """(first, labels, rows, drawn cells): :func:`forward_draw` of this slice's inputs."""
        rows, chosen = forward_draw(self.gen, self.layout, self.z, self.labels, self.uniform)
        return self.first, None if self.labels is None else self.labels.numpy(), rows, chosen


def input_slices(gen: Generator, encoder: TableEncoder, domain: Domain, n: int, seed: int, *,
                 label_index: int | None = None, chunk_size: int = 65_536, slice_rows: int = SLICE_ROWS,
                 device: str = "cpu") -> Iterator[Slice]:
    """The random inputs of ``n`` rows, ``slice_rows`` at a time: drawn per chunk of
    ``chunk_size`` as :func:`sample_chunks` draws them, so a seed gives the same rows however
    they are sliced, and whichever thread draws each slice. Labels are drawn from the DP label
    proportions, or all set to ``label_index``. Visit sequences: the columns and cells of a visit
    slot a patient's drawn visit count or pattern does not reach are 0, not computed
    (:mod:`synth.sample.reached`; every reached one is the reference's): read only kept visits'."""
    rng = torch.Generator().manual_seed(int(seed))
    gen = gen.to(device)
    probs = torch.as_tensor(domain.label_proportions, dtype=torch.float64) if domain.label else None
    layout = reached_layout(_span_layout(gen, encoder.spans), gen, encoder)
    for done in range(0, n, chunk_size):
        k = min(chunk_size, n - done)
        labels, z, uniform = chunk_inputs(gen, layout, k, rng, probs, label_index)
        for a in range(0, k, slice_rows):
            part = None if labels is None else labels[a:a + slice_rows]
            yield Slice(done + a, part, z[a:a + slice_rows], uniform[a:a + slice_rows], gen, layout)


def draw_slices(gen: Generator, encoder: TableEncoder, domain: Domain, n: int, seed: int, *,
                label_index: int | None = None, chunk_size: int = 65_536, slice_rows: int = SLICE_ROWS,
                device: str = "cpu") -> Iterator[tuple[int, np.ndarray | None, np.ndarray, dict[int, np.ndarray]]]:
    """``n`` rows as (first row's 0-based number, labels, rows, drawn cells), ``slice_rows`` at a
    time (:func:`input_slices`, each drawn)."""
    for part in input_slices(gen, encoder, domain, n, seed, label_index=label_index, chunk_size=chunk_size,
                             slice_rows=slice_rows, device=device):
        yield part.draw()


def sample_chunks(
    gen: Generator,
    encoder: TableEncoder,
    domain: Domain,
    n: int,
    seed: int,
    *,
    label_index: int | None = None,
    chunk_size: int = 65_536,
    device: str = "cpu",
    slice_rows: int | None = SLICE_ROWS,
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_size`` rows, ``n`` in all, columns in metadata order.

    Labels are drawn from the DP label proportions, or all set to ``label_index``. id columns
    get fresh numbers 1..n; pii columns get placeholders; nothing is copied from real data.
    The generator runs ``slice_rows`` rows at a time in blocks of ``BLOCK_ROWS`` (None: a whole
    chunk at once, the reference for the sliced path); the rows are the same either way.
    """
    lab = domain.label
    rng = torch.Generator().manual_seed(int(seed))
    gen = gen.to(device)
    probs = torch.as_tensor(domain.label_proportions, dtype=torch.float64) if lab else None
    layout = _span_layout(gen, encoder.spans)
    for done in range(0, n, chunk_size):
        k = min(chunk_size, n - done)
        labels, z, uniform = chunk_inputs(gen, layout, k, rng, probs, label_index)
        step = slice_rows or k
        parts = [forward_draw(gen, layout, z[a:a + step], None if labels is None else labels[a:a + step],
                              uniform[a:a + step], BLOCK_ROWS if slice_rows else None) for a in range(0, k, step)]
        out = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        chosen = {s: np.concatenate([p[1][s] for p in parts]) for s in parts[0][1]}
        labels = None if labels is None else labels.numpy()
        yield decode_rows(encoder, domain, out, chosen, labels, done + 1)


def decode_rows(encoder: TableEncoder, domain: Domain, out: np.ndarray, chosen: dict[int, np.ndarray],
                labels: np.ndarray | None, first_id: int) -> pd.DataFrame:
    """Drawn rows → a DataFrame in metadata order (visit sequences: the patients' visits), ids
    from ``first_id``."""
    lab, k = domain.label, len(out)
    frame = encoder.decode(out, chosen)
    if hasattr(encoder, "to_long"):  # visit sequences: k patients → their visits
        return encoder.to_long(frame, lab, labels, first_id, domain.all_columns, domain.pii_columns)
    cols: dict[str, pd.Series] = {}
    for name in domain.all_columns:
        if name in frame:
            cols[name] = frame[name]
        elif lab is not None and name == lab.name:
            cols[name] = category_series(lab, labels)
        elif name in domain.pii_columns:
            cols[name] = pd.Series([f"{name}_{i}" for i in range(first_id, first_id + k)], dtype=object)
        else:  # id column: fresh ids
            cols[name] = pd.Series(np.arange(first_id, first_id + k, dtype=np.int64))
    return pd.DataFrame(cols)


def arrow_schema(frame: pd.DataFrame) -> pa.Schema:
    """A fixed schema for every chunk (so chunks with no missing values still match)."""
    fields = []
    for name, s in frame.items():
        if pd.api.types.is_bool_dtype(s):
            typ = pa.bool_()
        elif pd.api.types.is_integer_dtype(s):
            typ = pa.int64()
        elif pd.api.types.is_float_dtype(s):
            typ = pa.float64()
        else:
            typ = pa.string()
        fields.append(pa.field(str(name), typ, nullable=True))
    return pa.schema(fields)
