"""Whether a fit's working copies of the data fit in this machine's free memory.

Measured on ACTG175's schema (27 columns, 138 encoded cells): from the CSV read to the peak, a
fit grows by about 2.4 KB per row (the checked, typed copy of the table about 1.3 KB, the
encoded float32 rows 0.55 KB, counting and batches the rest). The estimate below, 64 bytes per
column plus 8 per encoded cell, gives 2.85 KB per row there: a margin of about a fifth.

Privacy: the check reads the exact number of rows, but its error does not name it (messages
may be shared): it gives the memory needed, rounded to a tenth of a GiB, and the file's size.
Nothing here is stored or released.
"""

from __future__ import annotations

import os
from pathlib import Path

from synth.encode.table import NUMERIC_BINS
from synth.errors import SynthError
from synth.schema.columns import ColumnSpec, Schema
from synth.schema.sdtypes import MODELLED, is_boolean, is_numeric

__all__ = ["available_memory", "check_fits_in_memory", "check_file_fits_in_memory", "estimated_bytes"]

READ_BYTES_PER_CELL = 48  # pandas' frame of a CSV: about 31 bytes a cell on ACTG175's schema, with a margin


def available_memory() -> int | None:
    """Bytes the kernel says are available (MemAvailable), or None where it does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _cells(spec: ColumnSpec) -> int:
    """Encoded cells of one column, from its public metadata (a guess where its values are not listed
    publicly; nullable unless the metadata says otherwise publicly)."""
    nullable = 2 if spec.nullable is not False else 0
    if is_numeric(spec.sdtype):
        return NUMERIC_BINS + 1 + nullable
    if is_boolean(spec.sdtype):
        return 2 + nullable // 2
    return (len(spec.values) if spec.values is not None else 16) + nullable // 2


def _processes_here() -> int:
    """Fit processes on this machine (torchrun's ``LOCAL_WORLD_SIZE``): each holds the whole table."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def estimated_bytes(rows: int, schema: Schema) -> int:
    """Memory a fit needs beyond the table already read: per row, 64 bytes a column and 8 a cell
    (times the fit's processes on this machine). ``schema``: the metadata's columns resolved."""
    specs = [spec for spec in schema if spec.sdtype in MODELLED]
    return _processes_here() * rows * (64 * len(specs) + 8 * sum(_cells(spec) for spec in specs))


def check_fits_in_memory(rows: int, schema: Schema, source: str) -> None:
    """Stop before the table is copied when the fit would not fit in the free memory."""
    need, free = estimated_bytes(rows, schema), available_memory()
    if free is not None and need > free:
        raise SynthError(f"{source} is too large for this machine: fitting it needs about {need / 2**30:.1f} GiB "
                         f"of memory, and this machine has {free / 2**30:.1f} GiB free. Fit on a random subset of "
                         "the patients, or on a machine with more memory")


def check_file_fits_in_memory(path: Path, schema: Schema, source: str) -> None:
    """Before reading a CSV: its rows, estimated from its size and its first megabyte's lines,
    times what reading them and fitting them take. Stops a file far too large for this machine
    before pandas is out of memory."""
    free = available_memory()
    if free is None:
        return
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    lines = max(head.count(b"\n"), 1)
    rows = int(size * lines / len(head)) if len(head) < size else lines - 1  # less the header
    columns = max(head.split(b"\n", 1)[0].count(b",") + 1, len(schema.columns))
    need = estimated_bytes(rows, schema) + _processes_here() * rows * columns * READ_BYTES_PER_CELL
    if need > free:
        shown = f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
        raise SynthError(f"{source} is {shown}: reading and fitting it needs "
                         f"about {need / 2**30:.1f} GiB of memory, and this machine has {free / 2**30:.1f} GiB free. "
                         "Fit on a random subset of the patients, or on a machine with more memory")
