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


def _draw_rows(gen: Generator, encoder: TableEncoder, labels: torch.Tensor | None, k: int,
               rng: torch.Generator) -> np.ndarray:
    z = torch.randn(k, gen.noise_dim, generator=rng)
    with torch.no_grad():
        raw = gen.logits(z, labels)
        out = torch.empty_like(raw)
        noise: dict[int, torch.Tensor] = {}
        for span, group in zip(encoder.spans, gen.noise_groups):
            block = raw[:, span.start:span.start + span.width]
            if span.activation == "tanh":
                out[:, span.start:span.start + span.width] = torch.tanh(block)
            else:  # Gumbel-max, noise shared within a group as in training
                if group not in noise:
                    u = torch.rand(block.shape, generator=rng).clamp_(1e-12, 1 - 1e-12)
                    noise[group] = -torch.log(-torch.log(u))
                out[:, span.start:span.start + span.width] = block + noise[group]
    return out.numpy()


def sample_chunks(
    gen: Generator,
    encoder: TableEncoder,
    domain: Domain,
    n: int,
    seed: int,
    label_index: int | None = None,
    chunk_size: int = 10_000,
) -> Iterator[pd.DataFrame]:
    """Yield DataFrames of at most ``chunk_size`` rows, ``n`` in all, columns in metadata order.

    Labels are drawn from the DP label proportions, or all set to ``label_index``. id columns
    get fresh numbers 1..n; pii columns get placeholders; nothing is copied from real data.
    """
    rng = torch.Generator().manual_seed(int(seed))
    lab = domain.label
    probs = torch.as_tensor(domain.label_proportions, dtype=torch.float64) if lab else None
    done = 0
    while done < n:
        k = min(chunk_size, n - done)
        labels = None
        if lab is not None:
            labels = (torch.full((k,), label_index, dtype=torch.long) if label_index is not None
                      else torch.multinomial(probs, k, replacement=True, generator=rng))
        frame = encoder.decode(_draw_rows(gen, encoder, labels, k, rng))
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
