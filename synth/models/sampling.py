"""Sampling from a trained generator: post-processing only, chunked so memory is flat in n.

Nothing here reads real data. Categorical blocks are drawn exactly (Gumbel-max on the
generator's logits) from a seeded ``torch.Generator``, so a seed fixes every value.
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


def _noise_layout(gen: Generator, spans) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Columns of the tanh spans, of the softmax spans, and for each softmax column the column of
    the Gumbel noise it takes (spans in one noise group share their first span's noise)."""
    tanh_cols, soft_cols, noise_cols, first = [], [], [], {}
    n_noise = 0
    for span, group in zip(spans, gen.noise_groups):
        cols = list(range(span.start, span.start + span.width))
        if span.activation == "tanh":
            tanh_cols += cols
            continue
        if group not in first:
            first[group] = n_noise
            n_noise += span.width
        soft_cols += cols
        noise_cols += [first[group] + i for i in range(span.width)]
    as_long = lambda v: torch.as_tensor(v, dtype=torch.long)  # noqa: E731
    return as_long(tanh_cols), as_long(soft_cols), as_long(noise_cols), n_noise


def _draw_rows(gen: Generator, encoder: TableEncoder, labels: torch.Tensor | None, k: int,
               rng: torch.Generator, layout=None) -> np.ndarray:
    """k encoded rows: tanh for numbers, Gumbel-perturbed logits for categories (their argmax is
    an exact draw from the generator's softmax), with the noise shared within a group as in training."""
    tanh_cols, soft_cols, noise_cols, n_noise = layout or _noise_layout(gen, encoder.spans)
    z = torch.randn(k, gen.noise_dim, generator=rng)  # drawn on the CPU: a seed samples the same rows anywhere
    device = gen.out.weight.device
    with torch.no_grad():
        out = gen.logits(z.to(device), None if labels is None else labels.to(device)).cpu()
        out.index_copy_(1, tanh_cols, torch.tanh(out.index_select(1, tanh_cols)))
        gumbel = torch.rand(k, n_noise, generator=rng).clamp_(1e-12, 1 - 1e-12).log_().neg_().log_().neg_()
        out.index_add_(1, soft_cols, gumbel.index_select(1, noise_cols))
    return out.numpy()


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
    layout = _noise_layout(gen, encoder.spans)
    done = 0
    while done < n:
        k = min(chunk_size, n - done)
        labels = None
        if lab is not None:
            labels = (torch.full((k,), label_index, dtype=torch.long) if label_index is not None
                      else torch.multinomial(probs, k, replacement=True, generator=rng))
        frame = encoder.decode(_draw_rows(gen, encoder, labels, k, rng, layout))
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
