"""What is left of a time budget, as one object sees it: the stopper that ends the search
(``callbacks.TimeBudget``) and the scheduler that plans its end (``scheduler.
PolicyScheduler``) each hold their own :class:`BudgetClock`. Nothing is shared by reference
between them: Ray pickles both, at different moments, and restores each on its own at
``mnist-hpo resume``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnist_hpo.search.experiment.names import TIME_BUDGET_FILE


class BudgetClock:
    """Seconds left of a budget, on a clock that starts at the first reading.

    Each reading takes the time since the one before off what is left, so the time before
    the first reading (Ray's start-up) does not count, and neither does the time a search
    was down: a clock restored from a pickle keeps what was left and starts again at its
    next reading.

    Args:
        seconds: The budget.
        now: Seconds, of a clock that never goes back. Not pickled: a restored clock runs
            on ``time.monotonic``.
    """

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.left = seconds
        self.now = now
        self._last: float | None = None  # the clock at the last reading

    def read(self) -> float:
        """Seconds left now (negative once the budget is spent)."""
        now = self.now()
        if self._last is not None:
            self.left -= now - self._last
        self._last = now
        return self.left

    def resume_from(self, experiment: Path) -> bool:
        """At a resume, take what the stopper's clock had left, as it wrote it into
        ``experiment`` (:func:`time_budget_state`), if less. False: nothing readable."""
        left = (time_budget_state(experiment) or {}).get("left_s")
        if not isinstance(left, (int, float)):
            return False
        self.left = min(self.left, float(left))
        return True

    def __getstate__(self) -> dict[str, Any]:
        # A clock's readings mean nothing to another process, and a test's clock may not
        # pickle: the budget and what is left of it are the state.
        return {"seconds": self.seconds, "left": self.left}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["seconds"])  # type: ignore[misc]
        self.left = state["left"]


def time_budget_state(experiment: Path) -> dict[str, Any] | None:
    """What ``callbacks.TimeBudget`` last wrote into ``experiment`` (None: nothing readable)."""
    try:
        state: dict[str, Any] = json.loads((experiment / TIME_BUDGET_FILE).read_text())
        return state
    except (OSError, ValueError):
        return None
