"""Measurements against peers, run as scripts: `python benchmarks/NAME.py` (docs/benchmarks.md)."""
