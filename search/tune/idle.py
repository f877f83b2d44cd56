"""The driver's loop, kept from spinning when no trial runs.

Ray Tune's controller waits up to 0.1 s per step for its next event: a result, an actor
started or stopped, resources granted. With nothing in flight (every trial ended or paused
at a rung, none the policy will resume or start, the worker processes idle) there is
nothing to wait on: Ray's wait returns at once, and the loop asks the searcher and the
scheduler thousands of times a second until a budget ends. A planned end gets there when
no work left fits the time (a 30-minute search on 2 cores spun for its last 10 minutes,
one core busy with asking). :class:`IdleWait` sleeps out what Ray would have waited.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

#: What Ray waits for an event per step (``TuneController.step``): the most a step here
#: sleeps, so a trial the policy decides to start waits no longer than under Ray's own wait.
STEP_WAIT_S = 0.1


class IdleWait(tune.Callback):
    """At the end of a step that took less than :data:`STEP_WAIT_S`, while no trial is
    running, sleep for the rest of it.

    Args:
        clock: Seconds of a clock that never goes back.
        sleep: Sleeps for the given seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self._begun: float | None = None
        self.slept = 0  # steps slept out, for the tests and a profile

    def on_step_begin(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        self._begun = self.clock()

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        begun, self._begun = self._begun, None
        # Newest first: Ray lists trials as they were added, so the running ones are mostly
        # at the end, and a search of 2,000 trials does not read every ended one per step.
        if begun is None or any(t.status == Trial.RUNNING for t in reversed(trials)):
            return  # a running trial's result is an event Ray waits for
        rest = STEP_WAIT_S - (self.clock() - begun)
        if rest > 0:
            self.slept += 1
            self.sleep(rest)
