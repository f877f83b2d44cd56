"""What one search run is asked to do: a plain record the CLI fills and the driver reads."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.tune.objective import Objective
from mnist_hpo.spaces import Space

METRIC = "val_accuracy"
MODE = "max"
#: ``--scheduler``: Ray's ASHA (stopping type), ASHA of the promotion type
#: (the rules: ``search/policy/``), or every trial to the end.
SCHEDULERS = ("asha", "asha-promotion", "fifo")
#: The schedulers that judge trials at rungs of ``grace_period`` × η^k epochs.
ASHA_SCHEDULERS = ("asha", "asha-promotion")
#: The promotion type by default: replayed on recorded curves and measured by
#: ``benchmarks/search_quality.py`` it ends higher than Ray's stopping type in a short
#: search (docs/design/scheduling.md). A search on accuracy-cost fronts
#: uses the stopping type: the promotion type ranks by val_accuracy alone.
DEFAULT_SCHEDULER, PARETO_SCHEDULER = "asha-promotion", "asha"

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``1.5h``, ``1h30m`` → seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise UsageError(f"--time-budget {text!r}: not a duration; write 90s, 30m, 2h or 1h30m")
    seconds = sum(float(n) * _UNITS[u or "s"] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"--time-budget {text!r}: must be more than 0")
    return seconds


@dataclass(frozen=True)
class SearchSettings:
    """A search: the space, the budget, the scheduler and sampler, the resources, the data.

    Attributes mirror ``mnist-hpo search`` flags; see its ``--help``.
    """

    space: Space
    name: str
    storage: str = "experiments"
    trials: int = 20
    epochs: int = 5
    #: ``""``: :data:`DEFAULT_SCHEDULER`, or :data:`PARETO_SCHEDULER` for a cost objective.
    scheduler: str = ""
    grace_period: int = 1
    reduction_factor: float = 3.0
    sampler: str = "tpe"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    time_budget_s: float | None = None
    epoch_budget: int | None = None
    #: Trials the planned end of a budget trains to the end (asha-promotion with a budget).
    finalists: int = 2
    seed: int = 0
    address: str | None = None
    data: str | None = None
    subset: int | None = None
    validation: int = 5000
    reuse_workers: bool = True
    max_failures: int = 0
    max_failed_trials: int | None = None
    honest_early_stopping: bool = True
    warm_start: bool = True
    objective: str = "accuracy"
    max_params: int | None = None
    max_latency_ms: float | None = None

    def __post_init__(self) -> None:
        goal = self.goal  # raises UsageError on a bad --objective or limit
        if not self.scheduler:
            object.__setattr__(self, "scheduler",
                               PARETO_SCHEDULER if goal.cost_key else DEFAULT_SCHEDULER)
        if goal.multi and not self.honest_early_stopping:
            raise UsageError("--objective with a cost needs mnist-hpo's own searcher")
        if goal.limits and self.sampler != "tpe":
            raise UsageError(f"--max-params/--max-latency-ms: TPE honours them (Optuna's "
                             f"constraints); --sampler {self.sampler} does not")
        if self.scheduler not in SCHEDULERS:
            raise UsageError(f"--scheduler {self.scheduler!r}: must be one of "
                             f"{', '.join(SCHEDULERS)}")
        if self.scheduler == "asha-promotion" and goal.cost_key:
            raise UsageError(f"--scheduler asha-promotion: ranks trials by val_accuracy "
                             f"alone; --objective {self.objective} ranks by fronts, with "
                             f"{PARETO_SCHEDULER}")
        if self.sampler not in ("tpe", "random"):
            raise UsageError(f"--sampler {self.sampler!r}: must be tpe or random")
        if self.cpus_per_trial <= 0:
            raise UsageError(f"--cpus-per-trial {self.cpus_per_trial}: must be more than 0")
        if self.gpus_per_trial < 0 or (self.gpus_per_trial > 1 and
                                       self.gpus_per_trial != int(self.gpus_per_trial)):
            raise UsageError(f"--gpus-per-trial {self.gpus_per_trial}: must be a fraction "
                             f"0 <= g <= 1 or a whole number of GPUs")
        if self.max_failures < 0:
            raise UsageError(f"--max-failures {self.max_failures}: must be 0 or more")
        if self.max_failed_trials is not None and self.max_failed_trials < 1:
            raise UsageError(f"--max-failed-trials {self.max_failed_trials}: must be at least 1")
        if self.epoch_budget is not None and self.epoch_budget < 1:
            raise UsageError(f"--epoch-budget {self.epoch_budget}: must be at least 1")
        if self.finalists < 1:
            raise UsageError(f"--finalists {self.finalists}: must be at least 1")
        if self.reduction_factor <= 1:
            raise UsageError(f"--reduction-factor {self.reduction_factor}: must be more than 1")
        if not 1 <= self.grace_period <= self.epochs:
            raise UsageError(f"--grace-period {self.grace_period}: must be between 1 and "
                             f"--epochs ({self.epochs})")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.name):
            raise UsageError(f"--name {self.name!r}: use letters, digits, '.', '_' and '-'")

    @property
    def goal(self) -> Objective:
        """``--objective`` and the cost limits, checked."""
        return Objective.parse(self.objective, self.max_params, self.max_latency_ms)

    @property
    def plans_end(self) -> bool:
        """Whether the end of a budget is planned: finalists are chosen (asha-promotion
        with --time-budget or --epoch-budget)."""
        budget = self.time_budget_s is not None or self.epoch_budget is not None
        return self.scheduler == "asha-promotion" and budget and self.grace_period < self.epochs

    @property
    def threads_per_trial(self) -> int:
        """TensorFlow threads for one trial: its CPU share, at least one."""
        return max(1, int(self.cpus_per_trial))
