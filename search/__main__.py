"""``python -m search`` is ``mnist-hpo``."""

from search.cli import run

run()
