"""Sampling from a trained generator: post-processing only, chunked so memory is flat in n.

Nothing here reads real data. Categorical blocks are drawn exactly (the inverse of the CDF of
the generator's softmax) from a seeded ``torch.Generator``, so a seed fixes every value.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from synth.privacy.domain import Domain
from synth.encode.table import TableEncoder, category_series
from synth.models import Generator

__all__ = ["sample_chunks", "arrow_schema"]


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
    return {"tanh": torch.as_tensor(tanh, dtype=torch.long), "widths": widths, "uniforms": len(uniform_of)}


def _draw_rows(gen: Generator, encoder: TableEncoder, labels: torch.Tensor | None, k: int,
               rng: torch.Generator, layout: dict | None = None) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """k rows: the generator's output with tanh applied to the numbers' offsets, and each softmax
    span's drawn cell (by its start column), an exact draw from the generator's softmax by the
    inverse of its CDF; spans in one noise group share their uniform, as they share their Gumbel
    noise in training, so equal probabilities give equal draws."""
    layout = layout or _span_layout(gen, encoder.spans)
    z = torch.randn(k, gen.noise_dim, generator=rng)  # drawn on the CPU: a seed samples the same rows anywhere
    device = gen.out.weight.device
    chosen: dict[int, np.ndarray] = {}
    with torch.no_grad():
        out = gen.logits(z.to(device), None if labels is None else labels.to(device)).cpu()
        tanh = layout["tanh"]
        out.index_copy_(1, tanh, torch.tanh(out.index_select(1, tanh)))
        uniform = torch.rand(k, layout["uniforms"], generator=rng)
        for width, starts, columns, uniforms in layout["widths"]:
            logits = out.index_select(1, columns.reshape(-1)).reshape(k, len(starts), width)
            mass = torch.cumsum(torch.exp(logits - logits.amax(dim=2, keepdim=True)), dim=2)  # unnormalised CDF
            threshold = uniform.index_select(1, uniforms)[:, :, None] * mass[:, :, -1:]
            cells = torch.searchsorted(mass, threshold, right=True).squeeze(2).clamp_(max=width - 1)
            cells = cells.T.contiguous().numpy()  # (spans, k)
            chosen.update(zip(starts, cells))
    return out.numpy(), chosen


def sample_chunks(
    gen: Generator,
    encoder: TableEncoder,
    domain: Domain,
    n: int,
    seed: int,
    label_index: int | None = None,
    chunk_size: int = 65_536,
    device: str = "cpu",
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_size`` rows, ``n`` in all, columns in metadata order.

    Labels are drawn from the DP label proportions, or all set to ``label_index``. id columns
    get fresh numbers 1..n; pii columns get placeholders; nothing is copied from real data.
    """
    rng = torch.Generator().manual_seed(int(seed))
    gen = gen.to(device)
    lab = domain.label
    probs = torch.as_tensor(domain.label_proportions, dtype=torch.float64) if lab else None
    layout = _span_layout(gen, encoder.spans)
    done = 0
    while done < n:
        k = min(chunk_size, n - done)
        labels = None
        if lab is not None:
            labels = (torch.full((k,), label_index, dtype=torch.long) if label_index is not None
                      else torch.multinomial(probs, k, replacement=True, generator=rng))
        frame = encoder.decode(*_draw_rows(gen, encoder, labels, k, rng, layout))
        if hasattr(encoder, "to_long"):  # visit sequences: k patients → their visits
            yield encoder.to_long(frame, lab, None if labels is None else labels.numpy(), done + 1,
                                  domain.all_columns, domain.pii_columns)
            done += k
            continue
        cols: dict[str, pd.Series] = {}
        for name in domain.all_columns:
            if name in frame:
                cols[name] = frame[name]
            elif lab is not None and name == lab.name:
                cols[name] = category_series(lab, labels.numpy())
            elif name in domain.pii_columns:
                cols[name] = pd.Series([f"{name}_{i}" for i in range(done + 1, done + k + 1)], dtype=object)
            else:  # id column: fresh ids
                cols[name] = pd.Series(np.arange(done + 1, done + k + 1, dtype=np.int64))
        yield pd.DataFrame(cols)
        done += k


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
