"""The benchmarks users rerun, run from the repository root as ``python -m bench.<name>``; shared
helpers in :mod:`bench.common`; the developers' runs (fuzzing, audits, accounting, phases, scale,
one-off studies) in ``bench/dev/``."""
