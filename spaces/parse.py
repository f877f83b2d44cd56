"""Turn the YAML form of one parameter into a checked :class:`~spaces.domains.Domain`.

The forms, for a parameter ``p`` of the catalog:

- ``p: 0.25``: fixed;
- ``p: {low: 0.0, high: 0.5}`` (optionally ``log: true`` or ``step: ...``): a range, of
  integers or reals according to the parameter's type;
- ``p: {choices: [adam, sgd]}``: a categorical choice.

Per-block parameters (``filters``, ``kernel_size``) take one form for every block, or a list
with one form per block: ``filters: [32, 64]``.
"""

from __future__ import annotations

from typing import Any

from mnist_hpo.spaces.catalog import ParamSpec
from mnist_hpo.spaces.domains import Choice, Domain, Fixed, FloatRange, IntRange
from mnist_hpo.spaces.errors import SpaceError

_RANGE_KEYS = {"low", "high", "log", "step"}


def parse_domain(spec: ParamSpec, raw: Any, where: str) -> Domain:
    """Parse and validate one parameter's domain; errors name ``where``, the value and the rule."""
    if not isinstance(raw, dict):
        return Fixed(spec.check(raw, where))
    if "choices" in raw:
        return _parse_choices(spec, raw, where)
    unknown = set(raw) - _RANGE_KEYS
    if unknown:
        raise SpaceError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                         f"a range takes low, high, log, step and a choice takes choices")
    if "low" not in raw or "high" not in raw:
        raise SpaceError(f"{where}: a range needs both low and high, got {raw!r}")
    if spec.kind not in (int, float):
        raise SpaceError(f"{where}: {spec.name} is {spec.kind.__name__}, it takes "
                         f"{{choices: [...]}} or a single value, not a range")
    low = spec.check(raw["low"], f"{where}.low")
    high = spec.check(raw["high"], f"{where}.high")
    if low > high:
        raise SpaceError(f"{where}: low <= high must hold, got low={low!r}, high={high!r}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise SpaceError(f"{where}.log: {log!r} is not true or false")
    step = raw.get("step")
    if log and low <= 0:
        raise SpaceError(f"{where}: a log scale needs low > 0, got low={low!r}")
    if log and step is not None:
        raise SpaceError(f"{where}: log and step cannot be combined (Optuna's rule)")
    if spec.kind is int:
        if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 1):
            raise SpaceError(f"{where}.step: {step!r} must be an integer >= 1")
        return IntRange(low, high, log=log, step=step or 1)
    if step is not None:
        step = spec.coerce(step, f"{where}.step")
        if step <= 0:
            raise SpaceError(f"{where}.step: {step!r} must be > 0")
    return FloatRange(low, high, log=log, step=step)


def _parse_choices(spec: ParamSpec, raw: dict[str, Any], where: str) -> Choice:
    if set(raw) != {"choices"}:
        others = sorted(map(str, set(raw) - {"choices"}))
        raise SpaceError(f"{where}: choices cannot be combined with {', '.join(others)}")
    values = raw["choices"]
    if not isinstance(values, list) or not values:
        raise SpaceError(f"{where}.choices: must be a non-empty list, got {values!r}")
    checked = [spec.check(v, f"{where}.choices") for v in values]
    if len(set(checked)) != len(checked):
        raise SpaceError(f"{where}.choices: values must be distinct, got {checked!r}")
    return Choice(tuple(checked))
