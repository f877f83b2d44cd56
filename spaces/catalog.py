"""The hyperparameters a configuration may hold, their value rules and their defaults.

The catalog is the single source of truth for what a parameter *is*: its Python type, which
values are legal, whether it exists once per convolution block, when it is active, and the
value the tutorial network (the ``seed`` preset) gives it. Spaces say which values to *try*;
they are checked against these rules when loaded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mnist_hpo.spaces.errors import SpaceError

#: A 28×28 input halves at every block's 2×2 max-pooling with "same" padding:
#: 28 → 14 → 7 → 3 → 1. A fifth block would pool a 1×1 map down to nothing.
MAX_CONV_BLOCKS = 4

OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Rule:
    """A legal-value rule, with the text that explains it in error messages."""

    check: Callable[[Any], bool]
    text: str


def _between(low: float, high: float, *, high_open: bool = False, low_open: bool = False) -> Rule:
    def check(v: Any) -> bool:
        above = v > low if low_open else v >= low
        below = v < high if high_open else v <= high
        return bool(above and below and math.isfinite(v))

    left = f"{low:g} <" if low_open else f"{low:g} <="
    right = f"< {high:g}" if high_open else f"<= {high:g}"
    return Rule(check, f"{left} value {right}")


def _one_of(choices: tuple[str, ...]) -> Rule:
    return Rule(lambda v: v in choices, f"one of {', '.join(choices)}")


_ANY_BOOL = Rule(lambda v: True, "true or false")


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter of the CNN and its training.

    Attributes:
        name: Key in a configuration dict (per-block ones get ``_1``, ``_2``... appended).
        kind: Python type of a value: ``int``, ``float``, ``str`` or ``bool``.
        rule: Which values are legal.
        default: The seed network's value; a list (one per block) for per-block parameters.
        per_block: The parameter exists once per convolution block, while ``conv_blocks``
            reaches that block.
        only_for: ``(parameter, values)``: the parameter is active only when that other
            parameter takes one of these values (momentum exists for SGD only).
        help: One line for ``mnist-hpo spaces show``.
    """

    name: str
    kind: type
    rule: Rule
    default: Any
    per_block: bool = False
    only_for: tuple[str, tuple[Any, ...]] | None = None
    help: str = ""

    def coerce(self, value: Any, where: str) -> Any:
        """Return ``value`` as this parameter's type, or raise naming ``where`` and the value."""
        if self.kind is bool:
            if isinstance(value, bool):
                return value
        elif self.kind is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif self.kind is float:
            # YAML 1.1 reads "1e-3" (no dot) as a string; accept it as the number it means.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            elif isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        elif isinstance(value, str):
            return value.lower()
        raise SpaceError(f"{where}: {value!r} is not {_KIND_WORDS[self.kind]}")

    def check(self, value: Any, where: str) -> Any:
        """Coerce and validate one value; the error names ``where``, the value and the rule."""
        value = self.coerce(value, where)
        if not self.rule.check(value):
            raise SpaceError(f"{where}: {value!r} breaks the rule {self.rule.text}")
        return value


_KIND_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_FRACTION = _between(0.0, 1.0, high_open=True)

#: In sampling order: a parameter's conditions only look at parameters listed before it.
CATALOG: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        ParamSpec("conv_blocks", int, _between(1, MAX_CONV_BLOCKS), 2,
                  help="convolution blocks (depth); each ends in 2x2 max-pooling"),
        ParamSpec("convs_per_block", int, _between(1, 4), 2,
                  help="convolution layers in each block"),
        ParamSpec("filters", int, _between(1, 1024), [32, 64, 128, 128], per_block=True,
                  help="filters of the convolutions in block i"),
        ParamSpec("kernel_size", int, _between(1, 9), [5, 3, 3, 3], per_block=True,
                  help="kernel size of the convolutions in block i"),
        ParamSpec("batch_norm", bool, _ANY_BOOL, False,
                  help="batch normalisation after each convolution and the dense layer"),
        ParamSpec("conv_dropout", float, _FRACTION, 0.25,
                  help="dropout after each convolution block"),
        ParamSpec("dense_units", int, _between(1, 8192), 256,
                  help="units of the hidden dense layer"),
        ParamSpec("dense_dropout", float, _FRACTION, 0.5,
                  help="dropout after the hidden dense layer"),
        ParamSpec("optimizer", str, _one_of(OPTIMIZERS), "adam", help="optimizer"),
        ParamSpec("learning_rate", float, _between(0.0, 10.0, low_open=True), 1e-3,
                  help="optimizer learning rate"),
        ParamSpec("lr_schedule", str, _one_of(LR_SCHEDULES), "constant",
                  help="learning rate over training: constant, or cosine decay to 0 by the "
                       "last epoch"),
        ParamSpec("momentum", float, _FRACTION, 0.9, only_for=("optimizer", ("sgd",)),
                  help="SGD momentum (used by sgd only)"),
        ParamSpec("batch_size", int, _between(1, 4096), 32, help="training batch size"),
        ParamSpec("rotation", float, _between(0.0, 180.0), 10.0,
                  help="augmentation: random rotation range in degrees (0 = off)"),
        ParamSpec("zoom", float, _FRACTION, 0.1,
                  help="augmentation: random zoom range as a fraction (0 = off)"),
        ParamSpec("width_shift", float, _FRACTION, 0.1,
                  help="augmentation: random horizontal shift as a fraction of width (0 = off)"),
        ParamSpec("height_shift", float, _FRACTION, 0.1,
                  help="augmentation: random vertical shift as a fraction of height (0 = off)"),
    )
}


def config_key(name: str, block: int | None) -> str:
    """Key of a parameter in a flat configuration dict: ``filters_2`` for block 2."""
    return name if block is None else f"{name}_{block}"


def is_active(spec: ParamSpec, block: int | None, config: Mapping[str, Any]) -> bool:
    """Whether a parameter exists, given the values of the parameters before it."""
    if block is not None and block > config.get("conv_blocks", 0):
        return False
    if spec.only_for is not None:
        other, values = spec.only_for
        return config.get(other) in values
    return True


def inactive_reason(spec: ParamSpec, block: int | None, config: Mapping[str, Any]) -> str:
    """Why :func:`is_active` said no: ``conv_blocks=2`` or ``optimizer='adam'``."""
    if block is not None and block > config.get("conv_blocks", 0):
        return f"conv_blocks={config.get('conv_blocks')}"
    other = spec.only_for[0] if spec.only_for else "?"
    return f"{other}={config.get(other)!r}"


def blocks(spec: ParamSpec) -> list[int | None]:
    """The block numbers of a parameter: ``[1, ..., MAX_CONV_BLOCKS]`` or ``[None]``."""
    return list(range(1, MAX_CONV_BLOCKS + 1)) if spec.per_block else [None]


def default_value(spec: ParamSpec, block: int | None) -> Any:
    """The seed network's value of a parameter (of one block, for per-block ones)."""
    return spec.default[block - 1] if block is not None else spec.default
