"""What the user types: ``mnist-hpo`` and one module per subcommand (``train``, ``search``
with ``resume`` and ``extend``, ``reports`` with ``leaderboard``, ``report`` and ``export``,
``replay``, ``spaces``), with the argument helpers they share in ``args``."""

from __future__ import annotations

from mnist_hpo.search.cli.main import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
