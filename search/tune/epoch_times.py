"""How fast the trials train, as the scheduler measures it for the plan of a time budget:
each trial's seconds per epoch once started, and the seconds a trial takes to start on a
worker (``TrialView.epoch_s``, ``Snapshot.start_s``).

A trial's epoch is its own ``seconds`` (the trainable's training and validation time of
the epoch; Ray's ``time_this_iter_s`` for a trainable that reports none) plus the search's
overhead between two epochs of a trial training on (its checkpoint, Ray's bookkeeping:
the wall time between two results less the later one's ``seconds``). A start is the wall
time from the scheduler handing a trial a worker to its first result, less that epoch's
``seconds``: a worker's TensorFlow start, the model built or loaded from its checkpoint,
its cost measured. Kept apart, a start is counted once per chain of epochs, not in each
(the first epoch on a 1,500-image subset took four times the next ones).

Medians of the most recent :data:`SAMPLES`, in this process only: never pickled, learnt
again after a resume from the first results.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

SAMPLES = 50


class EpochTimes:
    """The measurements, fed by the scheduler.

    Args:
        now: Seconds, of a clock that never goes back.
    """

    def __init__(self, now: Callable[[], float]) -> None:
        self.now = now
        self._handed: dict[str, float] = {}  # trial id → when it was handed a worker
        self._last: dict[str, tuple[float, int]] = {}  # trial id → (when, its iteration)
        self._between: deque[float] = deque(maxlen=SAMPLES)
        self._starts: deque[float] = deque(maxlen=SAMPLES)

    def handed(self, trial_id: str) -> None:
        """The scheduler gave ``trial_id`` a worker (new, or resumed)."""
        self._handed[trial_id] = self.now()

    def result(self, trial_id: str, result: Mapping[str, Any]) -> None:
        """``trial_id`` reported ``result`` now."""
        now, seconds = self.now(), _seconds(result)
        iteration = result.get("iterations_since_restore")
        if seconds is None or not isinstance(iteration, int):
            return
        handed = self._handed.pop(trial_id, None)
        last = self._last.get(trial_id)
        if iteration == 1 and handed is not None:
            self._starts.append(max(0.0, now - handed - seconds))
        elif last is not None and last[1] == iteration - 1:
            self._between.append(max(0.0, now - last[0] - seconds))
        self._last[trial_id] = (now, iteration)

    def epoch_s(self, result: Mapping[str, Any]) -> float | None:
        """The seconds per epoch of a trial whose latest result is ``result``."""
        seconds = _seconds(result)
        return None if seconds is None else seconds + self.between_s

    @property
    def between_s(self) -> float:
        """The overhead between two epochs of a trial training on (0: not measured)."""
        return statistics.median(self._between) if self._between else 0.0

    @property
    def start_s(self) -> float | None:
        """Seconds a trial takes to start on a worker (None: not measured)."""
        return statistics.median(self._starts) if self._starts else None


def _seconds(result: Mapping[str, Any]) -> float | None:
    value = result.get("seconds", result.get("time_this_iter_s"))
    return float(value) if isinstance(value, (int, float)) else None
