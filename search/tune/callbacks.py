"""Driver-side callbacks: one line per finished trial, the budgets, the stopped mark."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from mnist_hpo.search.experiment.names import STOPPED_MARK, TIME_BUDGET_FILE
from mnist_hpo.search.tune.clock import BudgetClock
from mnist_hpo.search.tune.settings import METRIC


def trial_number(trial: Trial, offset: int = 0) -> int:
    """The trial's creation counter, 1, 2, 3...: Ray puts it first in the experiment tag
    (``"7_batch_size=32,..."``). Trials are created in the order Optuna samples them.
    ``offset``: trials an extended experiment already had."""
    return offset + int(str(trial.experiment_tag).split("_", 1)[0])


def trial_dirname(trial: Trial, offset: int = 0) -> str:
    """``trial_0007``: readable trial folders instead of Ray's hash-and-params names."""
    return f"trial_{trial_number(trial, offset):04d}"


def short(value: Any) -> Any:
    """Four significant digits for floats, so a parameter dict fits on a line."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


class TrialPrinter(tune.Callback):
    """Prints ``Trial 7 finished: val_accuracy=0.9912 after 3 epochs (stopped early)
    {params}. Best: trial 3, 0.9931.`` and the same for failures, with the reason.

    A trial's score is its best epoch's val_accuracy: the epoch whose checkpoint is kept.
    Scores come from Ray's own per-trial record (``metric_analysis``), which a resumed
    search restores: a trial that reported before the interruption keeps its score, and
    "Best" counts the trials that finished before it.
    """

    def __init__(self, max_epochs: int, searched: Sequence[str],
                 write: Callable[[str], None] = print, offset: int = 0) -> None:
        self.max_epochs = max_epochs
        self.offset = offset
        self.searched = list(searched)
        self.write = write
        self._forget()

    def _forget(self) -> None:
        # The best so far, kept as trials finish: walking every finished trial at each end
        # was quadratic (2,000 one-second trials: 2 million reads of Ray's records).
        self._counted: set[str] = set()  # ids of the finished trials counted
        self._top: tuple[float, int] | None = None  # (score, -number) of the best
        self._walked = False  # whether the trials that ended before this process were

    def __getstate__(self) -> dict[str, Any]:
        # Pickled into tuner.pkl: a resumed search counts its restored trials afresh.
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_counted", "_top", "_walked")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget()

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial,
                          **info: Any) -> None:
        n = trial_number(trial, self.offset)
        score = best_score(trial)
        epochs = int((trial.last_result or {}).get("training_iteration", 0))
        best = self._best(trials, trial)
        if score is None:
            self.write(f"Trial {n} finished without reporting {METRIC}. {self._best_text(best)}")
            return
        early = " (stopped early)" if epochs < self.max_epochs else ""
        self.write(f"Trial {n} finished: {METRIC}={score:.4f} after {epochs} "
                   f"epoch{'s' if epochs != 1 else ''}{early} {self._params(trial)}. "
                   f"{self._best_text(best)}")

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        reason = str(trial.error_file or "no error file")
        error = getattr(trial, "get_pickled_error", lambda: None)()
        if error is not None:
            lines = str(error).strip().splitlines()
            reason = lines[-1] if lines else type(error).__name__
        best = self._best(trials)
        self.write(f"Trial {trial_number(trial, self.offset)} failed: {reason} "
                   f"{self._params(trial)}. {self._best_text(best)}")

    def _params(self, trial: Trial) -> dict[str, Any]:
        return {k: short(v) for k, v in trial.config.items() if k in self.searched}

    def _best(self, trials: list[Trial], ending: Trial | None = None
              ) -> tuple[int, float] | None:
        """(trial number, score) of the best finished trial, ``ending`` counted as one; of
        equals, the lowest number. The trials a resumed search restored as finished are
        read at the first call; after it only the trial ending (a finished trial's scores
        do not change)."""
        if not self._walked:
            self._walked = True
            for t in trials:
                if t.status == Trial.TERMINATED:
                    self._count(t)
        if ending is not None:
            self._count(ending)
        if self._top is None:
            return None
        score, negative_number = self._top
        return -negative_number, score

    def _count(self, trial: Trial) -> None:
        if trial.trial_id in self._counted:
            return
        self._counted.add(trial.trial_id)
        if (score := best_score(trial)) is not None:
            key = (score, -trial_number(trial, self.offset))
            if self._top is None or key > self._top:
                self._top = key

    @staticmethod
    def _best_text(best: tuple[int, float] | None) -> str:
        if best is None:
            return "No trial has finished yet."
        return f"Best: trial {best[0]}, {best[1]:.4f}."


def best_score(trial: Trial) -> float | None:
    """The trial's best epoch's val_accuracy, from Ray's record of its results."""
    best = (trial.metric_analysis or {}).get(METRIC, {}).get("max")
    return None if best is None else float(best)


class StoppedMark(tune.Callback):
    """Marks the folder of a trial the scheduler stopped while it was paused at a rung
    (promotion-type ASHA): Ray writes no ``done`` row for it, and its rung's row, its last,
    would otherwise read as a trial still running. Local experiments only (records read
    those).

    ``ending`` is the search's ``stop_all``: when a budget ends the search, Ray stops the
    paused trials too, and those were cut by the budget, not stopped by the scheduler; left
    unmarked, the records say so.
    """

    def __init__(self, ending: Callable[[], bool] | None = None) -> None:
        self.ending = ending

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial,
                          **info: Any) -> None:
        # Ray tells the callbacks before it changes a stopped paused trial's status.
        path = trial.path
        if trial.status != Trial.PAUSED or not path or "://" in path or \
                (self.ending is not None and self.ending()):
            return
        folder = Path(path)
        if folder.is_dir():
            (folder / STOPPED_MARK).write_text(
                f"epoch {int((trial.last_result or {}).get('training_iteration', 0))}\n")


class FolderForEveryTrial(tune.Callback):
    """Gives each trial Ray never started its folder when the search ends. Ray names a
    trial's folder when it starts it, and its ``ResultGrid`` fails on a trial without one
    (``Should not access trial_fs_path``): under promotion-type ASHA a worker may go to a
    paused trial while the searcher's next configuration waits, and a budget can end the
    search then."""

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        for trial in trials:
            if not trial.relative_logdir:
                trial.init_local_path()  # type: ignore[no-untyped-call]


class EpochBudget(tune.Stopper):
    """Stops the whole search once ``limit`` epochs have been trained, counting every trial's
    every epoch: a budget in compute that means the same on any machine (benchmarks compare
    searchers at equal trial-epochs this way).

    Epochs are counted by each trial's ``training_iteration``: Ray passes a trial's last
    result again when the trial ends, and that must not count twice.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.epochs: dict[str, int] = {}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        done = int(result.get("training_iteration") or 0)
        self.epochs[trial_id] = max(self.epochs.get(trial_id, 0), done)
        return False

    @property
    def spent(self) -> int:
        return sum(self.epochs.values())

    def stop_all(self) -> bool:
        return self.limit is not None and self.spent >= self.limit


class TimeBudget(tune.Stopper):
    """The time budget (``--time-budget``), saying what is left of it.

    The clock starts at Ray's first check (``stop_all``), so Ray's start-up does not count;
    each check takes the time since the one before off what is left (a
    :class:`~mnist_hpo.search.tune.clock.BudgetClock`). Ray keeps this stopper in its
    experiment state: a resumed search goes on with what was left, not a new budget, and
    the time it was down does not count (the first check after a restore starts the clock
    again). So neither the process that ends the search nor its status line can tell from
    its own clock; this writes :data:`TIME_BUDGET_FILE` into ``experiment`` (a local
    folder; None for remote storage) at its first check, about every second after, and
    when the budget runs out.

    Args:
        seconds: The budget.
        experiment: Where to write what is left.
        clock: Seconds, of a clock that never goes back. Not kept in the experiment state:
            a restored stopper runs on ``time.monotonic``.
    """

    def __init__(self, seconds: float, experiment: str | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = BudgetClock(seconds, clock)
        self.experiment = experiment
        self._written: float | None = None  # the clock at the last write
        self._said_spent = False

    @property
    def seconds(self) -> float:
        return self.budget.seconds

    @property
    def left(self) -> float:
        return self.budget.left

    @property
    def clock(self) -> Callable[[], float]:
        return self.budget.now

    @clock.setter
    def clock(self, now: Callable[[], float]) -> None:
        self.budget.now = now

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False  # stops no single trial; see stop_all

    def stop_all(self) -> bool:
        left = self.budget.read()
        now = self.budget.now()
        spent = left <= 0
        due = self._written is None or now - self._written >= 1.0
        if self.experiment and (due or (spent and not self._said_spent)):
            path = Path(self.experiment, TIME_BUDGET_FILE)
            # Written beside, then renamed: a kill mid-write leaves the last whole file.
            partial = path.with_name(TIME_BUDGET_FILE + ".partial")
            partial.write_text(json.dumps({"budget_s": self.seconds,
                                           "left_s": round(max(left, 0.0), 1),
                                           "reached": spent}))
            os.replace(partial, path)
            self._written, self._said_spent = now, spent
        return spent

    def __getstate__(self) -> dict[str, Any]:
        return {"budget": self.budget, "experiment": self.experiment}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.budget, self.experiment = state["budget"], state["experiment"]
        self._written = None
        self._said_spent = False


class FailureBudget(tune.Callback, tune.Stopper):
    """Stops the whole search once ``limit`` trials have failed (after their retries)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.failed = 0

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.failed += 1

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False  # stops no single trial; see stop_all

    def stop_all(self) -> bool:
        return self.limit is not None and self.failed >= self.limit
