"""What values one parameter may take in a space: a fixed value, a range, or a set of choices.

Bounds are inclusive everywhere, as in Optuna's ``suggest_int``/``suggest_float``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` a space samples through."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class Fixed:
    """A constant: never sampled, always this value.

    Every domain also gives its Optuna distribution (``to_optuna``), the one
    ``Space.suggest`` samples from, to rebuild a study from finished trials.
    """

    value: Any

    def sample(self, trial: TrialLike, key: str) -> Any:
        return self.value

    def contains(self, value: Any) -> bool:
        return bool(value == self.value)

    def to_yaml(self) -> Any:
        return self.value

    def upper(self) -> Any:
        return self.value

    def lower(self) -> Any:
        return self.value

    def to_optuna(self) -> Any:
        import optuna.distributions as d

        return d.CategoricalDistribution([self.value])


@dataclass(frozen=True)
class IntRange:
    """Integers ``low <= v <= high`` (every ``step``-th), uniform or log-uniform."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def sample(self, trial: TrialLike, key: str) -> int:
        return trial.suggest_int(key, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        return (isinstance(value, int) and self.low <= value <= self.high
                and (value - self.low) % self.step == 0)

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step != 1:
            out["step"] = self.step
        return out

    def upper(self) -> int:
        return self.high

    def lower(self) -> int:
        return self.low

    def to_optuna(self) -> Any:
        import optuna.distributions as d

        return d.IntDistribution(self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class FloatRange:
    """Real numbers ``low <= v <= high``, uniform, log-uniform or on a ``step`` grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def sample(self, trial: TrialLike, key: str) -> float:
        return trial.suggest_float(key, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return math.isclose(steps, round(steps), abs_tol=1e-9)

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out

    def upper(self) -> float:
        return self.high

    def lower(self) -> float:
        return self.low

    def to_optuna(self) -> Any:
        import optuna.distributions as d

        return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class Choice:
    """One of a list of values (numbers, strings or booleans), unordered."""

    choices: tuple[Any, ...]

    def sample(self, trial: TrialLike, key: str) -> Any:
        return trial.suggest_categorical(key, self.choices)

    def contains(self, value: Any) -> bool:
        # `True in (1, 2)` holds in Python; a boolean must match a boolean.
        return any(value == c and type(value) is type(c) for c in self.choices)

    def to_yaml(self) -> dict[str, Any]:
        return {"choices": list(self.choices)}

    def upper(self) -> Any:
        return max(self.choices)

    def lower(self) -> Any:
        return min(self.choices)

    def to_optuna(self) -> Any:
        import optuna.distributions as d

        return d.CategoricalDistribution(self.choices)


Domain = Fixed | IntRange | FloatRange | Choice
