"""One-off studies of the tuning log (see README.md here): ``python -m bench.dev.studies.<name>``."""
