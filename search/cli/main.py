"""``mnist-hpo``: the command line. Each subcommand lives in a module of this package."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from mnist_hpo.reports.records import ExperimentError
from mnist_hpo.search.cli import replay, reports, search, spaces, train
from mnist_hpo.search.errors import DataError, UsageError
from mnist_hpo.spaces import SpaceError

#: Errors that mean "fix your input": one line on stderr, exit code 2, no traceback.
BAD_INPUT = (SpaceError, DataError, UsageError, ExperimentError)


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (argparse prints the whole usage block by default)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    parser = Parser(
        prog="mnist-hpo",
        description="Hyperparameter search for Keras CNNs on MNIST: search a space with Ray "
                    "Tune and Optuna, rank the trials, report and export the best model.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    search.add_parser(sub)
    search.add_resume_parser(sub)
    search.add_extend_parser(sub)
    reports.add_parsers(sub)
    replay.add_parser(sub)
    spaces.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failure, 2 bad input)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    # TensorFlow logs every SavedModel asset it writes at INFO; our own INFO lines matter.
    logging.getLogger("tensorflow").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        code: int = args.run(args)
    except BAD_INPUT as err:
        print(f"mnist-hpo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mnist-hpo {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())
