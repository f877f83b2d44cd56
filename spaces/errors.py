"""Errors raised while reading spaces and configurations."""

from __future__ import annotations


class SpaceError(ValueError):
    """A search space or a configuration breaks a rule: fatal, the user must fix the input.

    The message names the input (file, parameter), the offending value and the rule.
    """
