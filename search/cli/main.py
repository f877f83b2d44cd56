"""``mnist-hpo``: the command line. Each subcommand lives in a module of this package."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any, NoReturn

from mnist_hpo.search.cli import replay, reports, search, spaces, train
from mnist_hpo.search.errors import DataError, UsageError
from mnist_hpo.search.experiment import ExperimentError
from mnist_hpo.search.training.runtime import VERBOSE_ENV, verbose
from mnist_hpo.spaces import SpaceError

VERBOSE_HELP = (f"also show the libraries' own log lines (TensorFlow, Ray, ...), hidden by "
                f"default, and debug messages; same as {VERBOSE_ENV}=1")

#: Errors that mean "fix your input": one line on stderr, exit code 2, no traceback.
BAD_INPUT = (SpaceError, DataError, UsageError, ExperimentError)


#: What ``--version`` names, as their distributions are called: the first lines of a bug report.
VERSIONED = ("mnist-hpo", "ray", "optuna", "tensorflow", "keras")


def version_text() -> str:
    """``mnist-hpo 0.1.0 (ray 2.60.0, optuna 5.1.0, tensorflow 2.21.0, keras 3.15.1)``.

    Read from the installed distributions' metadata: importing TensorFlow would cost seconds
    and print its start-up lines for a one-line answer.
    """
    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    first, *others = VERSIONED
    return (f"{first} {installed(first)} ("
            + ", ".join(f"{name} {installed(name)}" for name in others) + ")")


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0, before any command is required.

    argparse's own ``action="version"`` takes the text when the parser is built; this one
    reads the versions only when asked.
    """

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(version_text())
        parser.exit(0)


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
    parser.add_argument("-v", "--verbose", action="store_true",
                        help=f"{VERBOSE_HELP} (may follow the command too)")
    parser.add_argument("--version", action=VersionAction,
                        help="print the versions of mnist-hpo, Ray, Optuna, TensorFlow and "
                             "Keras, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add_parser(sub)
    search.add_parser(sub)
    search.add_resume_parser(sub)
    search.add_extend_parser(sub)
    reports.add_parsers(sub)
    replay.add_parser(sub)
    spaces.add_parser(sub)
    for command in sub.choices.values():
        # SUPPRESS: a command without the flag keeps what the top level parsed.
        command.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                             help=VERBOSE_HELP)
    return parser


def configure_output(loud: bool) -> None:
    """Set up logging and warnings once for the command: our own lines at INFO, the
    libraries' only from WARNING and their Python warnings not at all; ``loud``
    (``--verbose``): everything at DEBUG, in the processes the command starts as well."""
    if loud:
        os.environ[VERBOSE_ENV] = "1"  # inherited by Ray's workers and export's reload check
    logging.basicConfig(level=logging.DEBUG if loud else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mnist_hpo").setLevel(logging.DEBUG if loud else logging.INFO)
    if not loud and not sys.warnoptions:  # python -W / PYTHONWARNINGS: the user decides
        # A library's warning is for its developers; ours (raised in our modules) stay.
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module="mnist_hpo")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 ok, 1 failure, 2 bad input)."""
    args = build_parser().parse_args(argv)
    configure_output(args.verbose or verbose())
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
