"""Errors of the driver whose message is for the user: exit 2, one line, no traceback."""

from __future__ import annotations


class DataError(ValueError):
    """The MNIST data cannot be found or read, or is not MNIST-shaped. Names the path."""


class UsageError(ValueError):
    """A command-line value cannot be used (unparsable ``--config``, occupied ``--out``)."""
