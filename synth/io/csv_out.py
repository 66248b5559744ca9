"""Synthetic rows to CSV: chunks written by a background thread while the next is drawn."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from synth.models.sampling import arrow_schema

__all__ = ["write_csv_chunks"]


def _text_objects(chunk: pd.DataFrame) -> pd.DataFrame:
    """Object columns as text (a categorical may mix 0, 0.5 and "x" from its range_values)."""
    out = chunk.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: v if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                                else str(v))
    return out



def write_csv_chunks(path: Path, chunks: Iterable[pd.DataFrame]) -> None:
    """Each chunk to the CSV at ``path``, written by a background thread while the next is drawn."""
    with ThreadPoolExecutor(max_workers=1) as background:
        writer, written = None, None
        try:
            for chunk in chunks:
                if writer is None:
                    schema = arrow_schema(chunk)
                    writer = pacsv.CSVWriter(str(path), schema, write_options=pacsv.WriteOptions(
                        quoting_style="needed"))
                table = pa.Table.from_pandas(_text_objects(chunk), schema=schema, preserve_index=False)
                if written is not None:
                    written.result()
                written = background.submit(writer.write_table, table)
            if written is not None:
                written.result()
        finally:
            if written is not None:
                written.exception()  # wait for it before closing, whatever happened
            if writer is not None:
                writer.close()
