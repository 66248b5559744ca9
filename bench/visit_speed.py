"""Part 7 of bench/speed.py: sampling visit sequences to CSV, three ways side by side.

For each ``--visit-patients`` count, from one pbcseq model (label trt, ε = 1; ``--visit-epochs``
epochs, else the fit's own), alternated ``--repeats`` times, each in its own process:

- **shipped**: ``Synthesizer.write_csv`` (slices decoded straight to Arrow, synth/sample/arrow_visits.py);
- **every slot**: the same sampler with the output layer and the draws computed for every
  visit slot of every patient (no ``reached`` layout: before synth/sample/reached.py), patched in;
- **pandas slices**: the same sampler with each slice decoded through pandas (decode, long
  format, rounding, inequalities, implications, ``pa.RecordBatch`` of the frame): the path it
  replaced, patched in for this run;
- **pyarrow**: ``pyarrow.csv.write_csv`` of the same rows (read back from the shipped CSV).

Wall seconds (CPU-seconds), medians; the rates' ratios; the shipped sampler's CPU-seconds over
every slot's, run by run (each pair run back to back); each process's peak memory; whether the
three synth CSVs are byte-identical (same seed). Read the ratios: the machine may be shared.
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from statistics import median

__all__ = ["visits_table", "PANDAS_SLICES", "EVERY_SLOT"]

# the output layer and draws for every visit slot, as before synth/sample/reached.py (issue 47)
EVERY_SLOT = """
from synth.sample import draw as S
S.reached_layout = lambda layout, gen, encoder: layout
"""

# the pandas path: Synthesizer._batches as it was for visit sequences (a slice at a time through pandas)
PANDAS_SLICES = """
from synth import synthesizer as S
from synth.sample.arrow_cells import frame_batch
from synth.sample.csv_out import in_background
from synth.sample.face import SAMPLE_THREADS
from synth.sample.draw import SLICE_ROWS, arrow_schema, decode_rows, input_slices
from synth.sample.rules import apply_implications, apply_inequalities
from synth.schema.implications import read_implications

def _batches(self, n, seed, condition, chunk_size=65_536):
    written, rule = self._rules(n)
    st = self._state()
    implied = read_implications(st["meta"])
    def batch(part):
        first, labels, out, chosen = part.draw()
        frame = decode_rows(st["encoder"], st["domain"], out, chosen, labels, first + 1)
        frame = apply_implications(apply_inequalities(written.round(frame), *rule), implied)
        return frame_batch(frame, arrow_schema(frame))
    slices = input_slices(st["generator"], st["encoder"], st["domain"], int(n), seed,
                          label_index=self._label_index(condition), chunk_size=chunk_size, slice_rows=SLICE_ROWS,
                          device=self.device)
    return in_background(batch, slices, pending=8, workers=SAMPLE_THREADS)

S.Synthesizer._batches = _batches
"""


def visits_table(child, sample: str, pyarrow: str, fit: str, data: Path, patients: list[int], repeats: int,
                 epochs: int | None, tmp: Path) -> None:
    """Print the table (``child``, ``sample``, ``pyarrow`` and ``fit``: bench/speed.py's)."""
    model = tmp / "pbcseq.synth"
    code = fit.replace('label="cens"', 'label="trt"' + (f", epochs={epochs}" if epochs else ""))
    child(code, str(data / "pbcseq.csv"), str(data / "pbcseq.json"), str(model))
    print(f"## Sampling visit sequences to CSV: pbcseq model, 19 columns, medians of {repeats}\n")
    print("| patients | CSV rows | shipped s (CPU-s) | every slot s (CPU-s) | pandas slices s (CPU-s) "
          "| pyarrow s (CPU-s) | shipped / pyarrow | every slot / pyarrow | pandas slices / pyarrow "
          "| CPU shipped / every slot (each run) | peak MiB shipped, every slot, pandas | identical |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in patients:
        runs: dict[str, list[dict]] = {"shipped": [], "every": [], "pandas": [], "pyarrow": []}
        same = True
        for r in range(repeats):
            order = [("shipped", sample), ("every", EVERY_SLOT + sample), ("pandas", PANDAS_SLICES + sample)]
            for name, code in order if r % 2 == 0 else order[::-1]:
                runs[name].append(child(code, str(model), str(tmp / f"{name}.csv"), str(n)))
            runs["pyarrow"].append(child(pyarrow, str(tmp / "shipped.csv"), str(tmp / "again.csv")))
            same &= all(filecmp.cmp(tmp / "shipped.csv", tmp / f"{name}.csv", shallow=False)
                        for name in ("every", "pandas"))
        rows = runs["pyarrow"][0]["rows"]
        s, c = ({k: median(x[key] for x in v) for k, v in runs.items()} for key in ("seconds", "cpu"))
        peak = {k: median(x["peak_mib"] for x in runs[k]) for k in ("shipped", "every", "pandas")}
        each = ", ".join(f"{a['cpu'] / b['cpu']:.2f}" for a, b in zip(runs["shipped"], runs["every"]))
        print(f"| {n:,} | {rows:,} | {s['shipped']:.2f} ({c['shipped']:.2f}) | {s['every']:.2f} ({c['every']:.2f}) "
              f"| {s['pandas']:.2f} ({c['pandas']:.2f}) | {s['pyarrow']:.2f} ({c['pyarrow']:.2f}) "
              f"| **{s['pyarrow'] / s['shipped']:.2f}** | {s['pyarrow'] / s['every']:.2f} "
              f"| {s['pyarrow'] / s['pandas']:.2f} | **{c['shipped'] / c['every']:.2f}** ({each}) "
              f"| {peak['shipped']:.0f}, {peak['every']:.0f}, {peak['pandas']:.0f} | {'yes' if same else '**no**'} |")
        for name in ("shipped", "every", "pandas", "again"):
            (tmp / f"{name}.csv").unlink()
    print()
