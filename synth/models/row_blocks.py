"""Cache-sized blocks of rows for work done row by row (sampling, checkpoint scores; issue 47).

A block's intermediates stay in the cache where a whole batch's went to memory. Row by row,
the values are the whole batch's, bit for bit, with one exception this module rules out: a
matrix product of 1-3 rows takes another BLAS kernel (another order of sums: other bits) than
the same rows inside a larger product. So a last block shorter than ``block`` joins the one
before, and no block has fewer rows than ``block`` or the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["row_blocks", "by_blocks"]


def row_blocks(rows: int, block: int | None) -> list[tuple[int, int]]:
    """(start, stop) of each block of ``rows`` rows, ``block`` at a time (None: one block)."""
    if block is None or rows <= block:
        return [(0, rows)]
    cuts = list(range(0, rows, block))
    if rows - cuts[-1] < block:
        cuts.pop()
    return list(zip(cuts, [*cuts[1:], rows]))


def by_blocks(work: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, width: int,
              block: int | None) -> torch.Tensor:
    """``work(x)`` (rows → rows of ``width`` columns, row by row), ``block`` rows of ``x`` at a
    time into one array made once. Without a gradient: for scores, not for training."""
    blocks = row_blocks(len(x), block)
    if len(blocks) == 1:
        return work(x)
    out = x.new_empty(len(x), width)
    for a, b in blocks:
        out[a:b] = work(x[a:b])
    return out
