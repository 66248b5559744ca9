"""Whether a fit's working copies of the data fit in this machine's free memory.

Measured on ACTG175's schema (27 columns, 138 encoded cells): from the CSV read to the peak, a
fit grows by about 2.4 KB per row (the checked, typed copy of the table about 1.3 KB, the
encoded float32 rows 0.55 KB, counting and batches the rest). The estimate below, 64 bytes per
column plus 8 per encoded cell, gives 2.85 KB per row there: a margin of about a fifth.

Privacy: the check reads the exact number of rows and its error names it; like every input
check, it runs on the data holder's machine and its message goes to the data holder only.
Nothing here is stored or released.
"""

from __future__ import annotations

from synth.encode.table import NUMERIC_BINS
from synth.errors import SynthError
from synth.schema.metadata import Metadata
from synth.schema.validate import MODELLED

__all__ = ["available_memory", "check_fits_in_memory", "estimated_bytes"]


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


def _cells(spec: dict) -> int:
    """Encoded cells of one column, from its public metadata (a guess where its values are not listed)."""
    nullable = 2 if spec.get("range_is_nullable", True) else 0
    if spec["sdtype"] in ("numerical", "datetime"):
        return NUMERIC_BINS + 1 + nullable
    if spec["sdtype"] == "boolean":
        return 2 + nullable // 2
    values = spec.get("range_values")
    return (len(values) if isinstance(values, list) else 16) + nullable // 2


def estimated_bytes(rows: int, meta: Metadata) -> int:
    """Memory a fit needs beyond the table already read: per row, 64 bytes a column and 8 a cell."""
    specs = [spec for spec in meta.columns.values() if spec["sdtype"] in MODELLED]
    return rows * (64 * len(specs) + 8 * sum(_cells(spec) for spec in specs))


def check_fits_in_memory(rows: int, meta: Metadata, source: str) -> None:
    """Stop before the table is copied when the fit would not fit in the free memory."""
    need, free = estimated_bytes(rows, meta), available_memory()
    if free is not None and need > free:
        raise SynthError(f"{source} has {rows:,} rows: fitting them needs about {need / 2**30:.1f} GiB of memory, "
                         f"and this machine has {free / 2**30:.1f} GiB free. Fit on a random subset of the "
                         "patients, or on a machine with more memory")
