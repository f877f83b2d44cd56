"""``python -m mnist_hpo.search`` is ``mnist-hpo``."""

from mnist_hpo.search.cli import run

run()
