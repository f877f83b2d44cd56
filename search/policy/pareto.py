"""Fronts at a rung: MO-ASHA's ranking of (val_accuracy, cost) points (Schmucker et al.,
"Multi-objective Asynchronous Successive Halving", 2021).

Ranked by val_accuracy alone, the cheap end of the front never passes a rung; here the
rung's trials are sorted into non-dominated fronts (NSGA-II's sorting), then by crowding
distance within a front, and a trial goes on when fewer than ⌈n/η⌉ of the n trials at its
rung rank strictly ahead of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

#: (val_accuracy, cost): higher accuracy and lower cost are better.
Point = tuple[float, float]


def dominates(a: Point, b: Point) -> bool:
    """``a`` is at least as good as ``b`` on both and better on one."""
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def fronts(points: Mapping[str, Point]) -> list[list[str]]:
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


def crowding(front: list[str], points: Mapping[str, Point]) -> dict[str, float]:
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


def goes_on(trial_id: str, points: Mapping[str, Point], reduction_factor: float) -> bool:
    """Whether ``trial_id`` (one of ``points``, the trials at a rung) is in the best 1/η."""
    ahead = 0
    for front in fronts(points):
        if trial_id in front:
            distance = crowding(front, points)
            ahead += sum(distance[k] > distance[trial_id] for k in front)
            break
        ahead += len(front)
    return ahead < math.ceil(len(points) / reduction_factor)
