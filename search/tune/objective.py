"""What a search optimises: val_accuracy alone (the default), or val_accuracy and a cost
together (a Pareto search), or val_accuracy under a cost limit.

The costs are those every trial records after its first epoch (``search.training.cost``):
``params`` (parameter count) and ``latency`` (milliseconds per image at batch 1, on the
worker that trained it). A Pareto search's ASHA ranks each rung by (val_accuracy, cost)
fronts (``search/policy/pareto.py``); a trial's cost is known from its first report on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mnist_hpo.search.errors import UsageError

#: ``--objective`` cost name → the key a trial reports it under.
COSTS = {"params": "params", "latency": "latency_ms_batch_1"}
#: Optuna user attribute holding a trial's reported costs.
COST_ATTR = "cost"


@dataclass(frozen=True)
class Objective:
    """``cost``: None (accuracy alone), ``params`` or ``latency``; the limits apply to a
    single-objective search, as Optuna constraints."""

    cost: str | None = None
    max_params: int | None = None
    max_latency_ms: float | None = None

    @classmethod
    def parse(cls, text: str = "accuracy", max_params: int | None = None,
              max_latency_ms: float | None = None) -> Objective:
        """``--objective accuracy|accuracy,params|accuracy,latency`` and the limits.

        Raises:
            UsageError: an unknown objective, or a limit with a two-objective search.
        """
        parts = [p.strip() for p in text.split(",")]
        allowed = ["accuracy", *(f"accuracy,{c}" for c in COSTS)]
        if parts[0] != "accuracy" or len(parts) > 2 or (len(parts) == 2 and
                                                          parts[1] not in COSTS):
            raise UsageError(f"--objective {text!r}: must be one of {', '.join(allowed)}")
        cost = parts[1] if len(parts) == 2 else None
        if cost is not None and (max_params is not None or max_latency_ms is not None):
            raise UsageError(f"--objective {text}: --max-params and --max-latency-ms limit a "
                             f"single-objective search; a Pareto search shows every trade-off "
                             f"(filter it afterwards: mnist-hpo export --max-params)")
        if max_params is not None and max_params < 1:
            raise UsageError(f"--max-params {max_params}: must be at least 1")
        if max_latency_ms is not None and max_latency_ms <= 0:
            raise UsageError(f"--max-latency-ms {max_latency_ms:g}: must be more than 0")
        return cls(cost, max_params, max_latency_ms)

    @property
    def multi(self) -> bool:
        return self.cost is not None

    @property
    def cost_key(self) -> str | None:
        return COSTS[self.cost] if self.cost else None

    @property
    def directions(self) -> list[str]:
        return ["maximize", "minimize"] if self.multi else ["maximize"]

    @property
    def limits(self) -> dict[str, float]:
        """Cost key → the largest allowed value."""
        out: dict[str, float] = {}
        if self.max_params is not None:
            out[COSTS["params"]] = float(self.max_params)
        if self.max_latency_ms is not None:
            out[COSTS["latency"]] = self.max_latency_ms
        return out

    def describe(self) -> dict[str, Any]:
        """For ``search.json``."""
        return {"maximize": "val_accuracy",
                **({"minimize": self.cost_key} if self.cost_key else {}),
                **({"limits": self.limits} if self.limits else {})}


def constraint_values(cost: Mapping[str, float],
                      limits: Mapping[str, float]) -> dict[str, float]:
    """Optuna constraint values (``Trial.set_constraint``), one per limit: ``cost - limit``,
    within the limit when ≤ 0. A cost the trial did not record violates nothing."""
    return {key: float(cost[key]) - limit for key, limit in limits.items() if key in cost}
