"""ASHA for a Pareto search: at each rung a trial goes on when it is among the best 1/η of
the trials that reached the rung, ranked by (val_accuracy, cost) front, not val_accuracy alone.

Ray's ASHA takes one metric (ray-project/ray#8018). Ranked by val_accuracy alone, the cheap
end of the front never passes a rung: a 24,000-parameter network is 1-2 points behind the
seed network after two epochs and would be stopped there, although it is exactly what an
``accuracy,params`` search is for. This is MO-ASHA (Schmucker et al., "Multi-objective
Asynchronous Successive Halving", 2021): the rung's trials are sorted into non-dominated
fronts (NSGA-II's sorting), then by crowding distance within a front, and a trial goes on
when fewer than ⌈n/η⌉ of the n trials at its rung rank strictly ahead of it. With one
objective this is ASHA's rule, go on when in the top 1/η so far (ties go on), up to how Ray
interpolates its percentile between two trials.
val_accuracy still decides within a cost level; a trial's cost is known from its first
report on (``search.training.cost``).
"""

from __future__ import annotations

import math
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

#: (val_accuracy, cost): higher accuracy and lower cost are better.
Point = tuple[float, float]


def milestones(grace_period: int, max_t: int, reduction_factor: float) -> list[int]:
    """The rungs, lowest first: exactly Ray's ASHA's (one bracket)."""
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return [int(grace_period * reduction_factor ** k) for k in range(count)]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` on both and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def fronts(points: dict[str, Point]) -> list[list[str]]:
    """Non-dominated sorting: the first front, then the front of what is left, and so on."""
    left = dict(points)
    out: list[list[str]] = []
    while left:
        front = [k for k, p in left.items()
                 if not any(dominates(q, p) for j, q in left.items() if j != k)]
        out.append(front)
        for k in front:
            del left[k]
    return out


def crowding(front: list[str], points: dict[str, Point]) -> dict[str, float]:
    """NSGA-II's crowding distance within one front: the ends infinite, the others the sum
    over objectives of the normalised gap between their neighbours."""
    distance = dict.fromkeys(front, 0.0)
    for axis in (0, 1):
        ordered = sorted(front, key=lambda k: points[k][axis])
        low, high = points[ordered[0]][axis], points[ordered[-1]][axis]
        distance[ordered[0]] = distance[ordered[-1]] = math.inf
        if high == low:
            continue
        for before, k, after in zip(ordered, ordered[1:], ordered[2:], strict=False):
            distance[k] += (points[after][axis] - points[before][axis]) / (high - low)
    return distance


def goes_on(trial_id: str, points: dict[str, Point], reduction_factor: float) -> bool:
    """Whether ``trial_id`` (one of ``points``, the trials at a rung) is in the best 1/η."""
    ahead = 0
    for front in fronts(points):
        if trial_id in front:
            distance = crowding(front, points)
            ahead += sum(distance[k] > distance[trial_id] for k in front)
            break
        ahead += len(front)
    return ahead < math.ceil(len(points) / reduction_factor)


class ParetoASHA(FIFOScheduler):
    """Asynchronous successive halving on (val_accuracy, ``cost_key``) fronts.

    The accuracy (maximised) is the search's metric, set by Ray from ``TuneConfig`` as for
    its own schedulers.

    Args:
        cost_key: The cost it reports (minimised): ``params`` or ``latency_ms_batch_1``.
        max_t, grace_period, reduction_factor: As Ray's ``ASHAScheduler``; every trial
            stops at ``max_t``.
        time_attr: The result key counting a trial's progress.
    """

    def __init__(self, *, cost_key: str, max_t: int, grace_period: int,
                 reduction_factor: float, time_attr: str = "training_iteration") -> None:
        if not 0 < grace_period <= max_t or reduction_factor <= 1:
            raise ValueError(f"ParetoASHA: need 0 < grace_period ({grace_period}) <= max_t "
                             f"({max_t}) and reduction_factor ({reduction_factor}) > 1")
        super().__init__()  # type: ignore[no-untyped-call]
        self.cost_key = cost_key
        self.max_t = max_t
        self.reduction_factor = reduction_factor
        self.time_attr = time_attr
        # Rung -> trial id -> (val_accuracy, cost) when the trial reached it.
        self.rungs: dict[int, dict[str, Point]] = {
            m: {} for m in milestones(grace_period, max_t, reduction_factor)}
        self.stopped = 0

    def set_search_properties(self, metric: str | None, mode: str | None,
                              **spec: Any) -> bool:
        if mode not in (None, "max"):
            return False  # the accuracy goes up
        return bool(super().set_search_properties(metric, mode, **spec))

    def on_trial_result(self, tune_controller: Any, trial: Trial,
                        result: dict[str, Any]) -> str:
        progress, accuracy = result.get(self.time_attr), result.get(self.metric or "")
        if progress is None or accuracy is None:
            return TrialScheduler.CONTINUE
        if progress >= self.max_t:
            return TrialScheduler.STOP
        # A trial without a cost (it failed to measure one) ranks as the costliest.
        point = (float(accuracy), float(result.get(self.cost_key, math.inf)))
        for milestone in sorted(self.rungs, reverse=True):
            recorded = self.rungs[milestone]
            if progress < milestone or trial.trial_id in recorded:
                continue
            recorded[trial.trial_id] = point
            if not goes_on(trial.trial_id, recorded, self.reduction_factor):
                self.stopped += 1
                return TrialScheduler.STOP
            break
        return TrialScheduler.CONTINUE

    def debug_string(self) -> str:
        return (f"ParetoASHA on ({self.metric}, {self.cost_key}): {self.stopped} stopped; "
                + ", ".join(f"rung {m}: {len(r)}" for m, r in sorted(self.rungs.items())))
