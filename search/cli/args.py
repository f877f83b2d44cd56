"""Argument types and options shared by several subcommands."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be more than 0")
    return value


def ensemble_size(text: str) -> int | str:
    """argparse type for ``--ensemble``: ``auto`` or an integer >= 2."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give the most members, 2 or more, "
                                         f"or auto") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{value}: an ensemble has at least 2 members "
                                         f"(without --ensemble, export writes one trial)")
    return value


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--subset``, ``--validation``: where MNIST comes from and how it is split."""
    parser.add_argument("--data", metavar="PATH",
                        help="a Keras-layout mnist.npz or a folder of the four IDX files "
                             "(default: $MNIST_HPO_DATA, else Keras' download)")
    parser.add_argument("--subset", type=positive_int, metavar="N",
                        help="train on only N training images (quick runs)")
    parser.add_argument("--validation", type=positive_int, default=5000, metavar="N",
                        help="training images held out for validation (default: %(default)s)")


def add_experiment_argument(parser: argparse.ArgumentParser, *, data: bool = False) -> None:
    """The ``EXPERIMENT`` folder argument; with ``data``, ``--data`` for a moved MNIST file."""
    parser.add_argument("experiment", metavar="EXPERIMENT",
                        help="experiment folder (STORAGE/NAME of a search)")
    if data:
        parser.add_argument("--data", metavar="PATH",
                            help="the MNIST file the search used, if it moved (same SHA-256)")
