"""Accuracy against cost: the Pareto front of a search's trials, the seed network among
them, and the most accurate trial under a limit. Plain trial records only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mnist_hpo.search.experiment import Experiment, ExperimentError, TrialRecord

#: Cost names users type → the key trials record them under, and how to say it.
COSTS: dict[str, tuple[str, str]] = {
    "params": ("params", "parameters"),
    "latency": ("latency_ms_batch_1", "ms per image at batch 1"),
}


@dataclass(frozen=True)
class Point:
    """One trial's best val_accuracy and its cost."""

    trial: int
    val_accuracy: float
    cost: float


def points(experiment: Experiment, cost: str) -> list[Point]:
    """Every trial with a val_accuracy and a recorded ``cost`` (``params`` or ``latency``)."""
    key = COSTS[cost][0]
    return [Point(t.number, t.best_val_accuracy, t.cost[key]) for t in experiment.trials
            if t.best_val_accuracy is not None and key in t.cost]


def front(pts: list[Point]) -> list[Point]:
    """The non-dominated points (higher val_accuracy, lower cost), cheapest first. A point
    is dominated when another is at least as good on both and better on one."""
    ordered = sorted(pts, key=lambda p: (p.cost, -p.val_accuracy, p.trial))
    out: list[Point] = []
    for p in ordered:
        if not out or p.val_accuracy > out[-1].val_accuracy:
            out.append(p)
    return out


def search_cost(manifest: Mapping[str, object]) -> str:
    """The cost a Pareto search minimised, else ``params``."""
    objective = manifest.get("objective")
    minimised = objective.get("minimize") if isinstance(objective, dict) else None
    return next((name for name, (key, _) in COSTS.items() if key == minimised), "params")


def seed_trial(experiment: Experiment) -> int | None:
    """The trial that trained the seed network (the search's warm start), if any."""
    warm = experiment.manifest.get("warm_start") or []
    if not warm:
        return None
    point = warm[0]
    return next((t.number for t in experiment.trials
                 if all(t.params.get(k) == v for k, v in point.items())), None)


def best_within(experiment: Experiment, limits: Mapping[str, float]) -> TrialRecord:
    """The most accurate trial whose recorded costs are within ``limits`` (``params`` /
    ``latency`` → largest value).

    Raises:
        ExperimentError: no trial recorded the cost, or none is within the limits (the
            message names the smallest trial found).
    """
    flags = {"params": "--max-params", "latency": "--max-latency-ms"}
    candidates = [t for t in experiment.finished]
    for name, limit in limits.items():
        key, unit = COSTS[name]
        measured = [t for t in candidates if key in t.cost]
        if not measured:
            raise ExperimentError(f"{flags[name]} {limit:g}: no trial in {experiment.path} "
                                  f"recorded its {unit} (searches before costs were "
                                  f"measured did not)")
        within = [t for t in measured if t.cost[key] <= limit]
        if not within:
            smallest = min(measured, key=lambda t: t.cost[key])
            raise ExperimentError(
                f"{flags[name]} {limit:g}: no trial within it; the smallest is trial "
                f"{smallest.number} with {amount(name, smallest.cost[key])} {unit} "
                f"(val_accuracy {smallest.best_val_accuracy:.4f})")
        candidates = within
    return max(candidates, key=lambda t: (t.best_val_accuracy or 0.0, -t.number))


def amount(cost: str, value: float) -> str:
    """``12,346`` parameters, ``0.731`` ms."""
    return f"{int(value):,}" if cost == "params" else f"{value:.3g}"
