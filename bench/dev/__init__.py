"""The developers' runs: fuzzing (with the hostile inputs the tests share), the privacy audits, the
accountants' comparison, phases, scale, and ``studies/`` (one-off questions of the tuning log).
Run as ``python -m bench.dev.<name>`` from the repository root."""
