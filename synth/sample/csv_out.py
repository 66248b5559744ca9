"""Synthetic rows to CSV, written by a background thread while the next rows are drawn.

:func:`write_csv_batches` takes Arrow record batches (the streaming sampler,
:class:`synth.sample.arrow_rows.ArrowRows`); :func:`write_csv_chunks` takes DataFrames (the
reference path the streaming one is tested against). Both write the same bytes for the same rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from synth.sample.arrow_rows import text_objects
from synth.sample.draw import arrow_schema

__all__ = ["write_csv_chunks", "write_csv_batches", "in_background"]

PENDING = 4  # batches drawn ahead of the writer at most: memory stays flat in the number of rows
T = TypeVar("T")
R = TypeVar("R")


def in_background(work: Callable[[T], R], items: Iterable[T], pending: int = PENDING, workers: int = 1
                  ) -> Iterator[R]:
    """``work(item)`` for each item, yielded in the items' order, computed by ``workers`` background
    threads while the caller makes the next items (at most ``pending`` ahead). ``work`` must not
    depend on which thread runs it, nor on the order the items finish in."""
    with ThreadPoolExecutor(max_workers=workers) as background:
        queued: deque[Future] = deque()
        try:
            for item in items:
                if len(queued) >= pending:
                    yield queued.popleft().result()
                queued.append(background.submit(work, item))
            while queued:
                yield queued.popleft().result()
        finally:
            for future in queued:
                future.cancel()


def write_csv_batches(path: Path, batches: Iterable[pa.RecordBatch | pa.Table]) -> None:
    """Each batch to the CSV at ``path`` (the first one's schema, a header line, values quoted
    where needed), written by a background thread while the next ones are drawn."""
    with ThreadPoolExecutor(max_workers=1) as background:
        writer, pending = None, deque[Future]()
        try:
            for batch in batches:
                if writer is None:
                    writer = pacsv.CSVWriter(str(path), batch.schema, write_options=pacsv.WriteOptions(
                        quoting_style="needed"))
                if len(pending) >= PENDING:
                    pending.popleft().result()
                write = writer.write_batch if isinstance(batch, pa.RecordBatch) else writer.write_table
                pending.append(background.submit(write, batch))
            while pending:
                pending.popleft().result()
        finally:
            for done in pending:
                done.exception()  # wait for each before closing, whatever happened
            if writer is not None:
                writer.close()
            if hasattr(batches, "close"):  # a generator left early: its own threads stop now
                batches.close()


def _tables(chunks: Iterable[pd.DataFrame]):
    schema = None
    for chunk in chunks:
        schema = schema or arrow_schema(chunk)  # the first chunk's: chunks with no missing values still match
        yield pa.Table.from_pandas(text_objects(chunk), schema=schema, preserve_index=False)


def write_csv_chunks(path: Path, chunks: Iterable[pd.DataFrame]) -> None:
    """Each DataFrame chunk to the CSV at ``path``, as :func:`write_csv_batches` writes batches."""
    write_csv_batches(path, _tables(chunks))
