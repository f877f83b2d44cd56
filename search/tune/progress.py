"""How far a search is and how long it has left: one status line on a terminal, the same
figures as ``key=value`` pairs in each per-trial line otherwise.

The estimate of the time left comes from what the search has measured: the epochs trained
per second so far (all trials together, so it includes start-up, concurrency and the
trials' own speeds), and the epochs still to come. Under ASHA a trial's epochs are not
known in advance; a trial that has trained ``d`` epochs is expected to reach the next rung
and to pass each later rung with probability 1/η (``expected_epochs``), as ASHA promotes a
1/η share. Whichever ends first, the trials, the time budget or the epoch budget, bounds
the estimate, and the line says which.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ray import tune
from ray.tune.experiment import Trial

from mnist_hpo.search.experiment.plan_file import read_plan
from mnist_hpo.search.policy import rungs
from mnist_hpo.search.tune.callbacks import best_score
from mnist_hpo.search.tune.clock import time_budget_state
from mnist_hpo.search.tune.settings import ASHA_SCHEDULERS, METRIC, SearchSettings


def expected_epochs(done: int, max_t: int, grace: int | None = None,
                    factor: float | None = None) -> float:
    """Expected total epochs of a trial that has trained ``done`` (and is still going):
    ``max_t`` without ASHA (``grace`` None); under ASHA, on to the next rung surely, then
    past each later rung with probability 1/η (the policy's rungs, ``policy.rungs``)."""
    if grace is None or factor is None:
        return float(max_t)
    ahead = [r for r in rungs(max_t, grace, factor) if r > done] + [max_t]
    total, p = float(ahead[0]), 1.0
    for here, there in itertools.pairwise(ahead):
        p /= factor
        total += p * (there - here)
    return total


@dataclass
class Progress:
    """The counts behind the status line, fed by :class:`ProgressCallback`."""

    planned: int
    max_epochs: int
    grace: int | None = None  # None: no early stopping (FIFO)
    factor: float | None = None
    time_budget_s: float | None = None
    epoch_budget: int | None = None
    started: float = field(default_factory=time.monotonic)
    epochs: dict[str, int] = field(default_factory=dict)  # per trial, trained so far
    running: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    best: tuple[int, float] | None = None
    first_start: float | None = None
    experiment: str | None = None  # local folder: where a resumed search finds its time left
    plans_end: bool = False  # the end of a budget is planned: the line says its phase
    _plan: tuple[float, str | None, str] = (-math.inf, None, "")  # read at, phase, trials

    @classmethod
    def of(cls, settings: SearchSettings, planned: int | None = None,
           experiment: Path | None = None) -> Progress:
        # Both ASHA kinds let a 1/η share of a rung go on (the promotion type later).
        asha = settings.scheduler in ASHA_SCHEDULERS
        return cls(planned=planned or settings.trials, max_epochs=settings.epochs,
                   grace=settings.grace_period if asha else None,
                   factor=settings.reduction_factor if asha else None,
                   time_budget_s=settings.time_budget_s, epoch_budget=settings.epoch_budget,
                   experiment=None if experiment is None else str(experiment),
                   plans_end=settings.plans_end)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled by a resumed search (Ray restores its callbacks from tuner.pkl): the
        # clock and the counts restart with this process, and the time budget goes on with
        # what was left of it (Ray's stopper keeps it; TimeBudget wrote it down).
        self.__dict__.update(state)
        self.started, self.first_start = time.monotonic(), None
        self.epochs, self.running, self.finished, self.best = {}, set(), set(), None
        self._plan = (-math.inf, None, "")
        if self.time_budget_s is not None and self.experiment:
            left = (time_budget_state(Path(self.experiment)) or {}).get("left_s")
            if isinstance(left, (int, float)):
                self.time_budget_s = float(left)

    def start(self, trial: str) -> None:
        self.running.add(trial)
        if self.first_start is None:
            self.first_start = time.monotonic()

    def result(self, trial: str, epoch: int, number: int, score: float | None) -> None:
        self.epochs[trial] = max(self.epochs.get(trial, 0), epoch)
        self.scored(number, score)

    def scored(self, number: int, score: float | None) -> None:
        """Trial ``number`` has reached ``score``: the best if none is higher; of equals,
        the lowest number, as the per-trial lines say."""
        if score is None:
            return
        if self.best is None or (score, -number) > (self.best[1], -self.best[0]):
            self.best = (number, score)

    def end(self, trial: str) -> None:
        self.running.discard(trial)
        self.finished.add(trial)

    def figures(self, now: float | None = None) -> dict[str, Any]:
        """Everything the line shows, as numbers (``left_s`` None until an epoch ends)."""
        now = time.monotonic() if now is None else now
        trained = sum(self.epochs.values())
        left, by = self._left(trained, now)
        phase, finalists = self._phase(now)
        figures = {"trials_done": len(self.finished), "trials_running": len(self.running),
                   "trials_planned": self.planned, "epochs": trained,
                   "epoch_budget": self.epoch_budget,
                   "best": None if self.best is None else round(self.best[1], 4),
                   "best_trial": None if self.best is None else self.best[0],
                   "elapsed_s": round(now - self.started), "left_s": left, "left_by": by}
        if self.plans_end:
            figures |= {"phase": phase, "finalists": finalists or None}
        return figures

    def _phase(self, now: float) -> tuple[str | None, str]:
        """The planned end's phase and finalists (``"7,12"``), as the scheduler last wrote
        them into the experiment folder (read at most once a second; local folders)."""
        read_at, phase, finalists = self._plan
        if self.plans_end and self.experiment and now - read_at >= 1.0:
            plan = read_plan(Path(self.experiment)) or {}
            phase = plan.get("phase") or phase
            finalists = ",".join(str(f.get("trial")) for f in plan.get("finalists", []))
            self._plan = (now, phase, finalists)
        return phase, finalists

    def _left(self, trained: int, now: float) -> tuple[int | None, str]:
        if trained == 0 or self.first_start is None:
            return None, "unknown"
        rate = trained / max(now - self.first_start, 1e-9)  # epochs per second
        to_come = sum(expected_epochs(self.epochs.get(t, 0), self.max_epochs, self.grace,
                                      self.factor) - self.epochs.get(t, 0)
                      for t in self.running)
        unstarted = self.planned - len(self.running) - len(self.finished)
        to_come += max(unstarted, 0) * expected_epochs(0, self.max_epochs, self.grace,
                                                       self.factor)
        options = {"trials": to_come / rate}
        if self.epoch_budget is not None:
            options["epoch budget"] = max(self.epoch_budget - trained, 0) / rate
        if self.time_budget_s is not None:
            options["time budget"] = max(self.time_budget_s - (now - self.started), 0.0)
        by = min(options, key=lambda k: options[k])
        return round(options[by]), by

    def line(self, ended: bool = False) -> str:
        """The terminal status line (``ended``: the last one, without a time left)."""
        f = self.figures()
        epochs = f"{f['epochs']} epochs" + (f" of {f['epoch_budget']}" if f["epoch_budget"]
                                            else "")
        best = "no result yet" if f["best"] is None else \
            f"best {f['best']:.4f} (trial {f['best_trial']})"
        left = "estimating time left" if f["left_s"] is None else \
            f"~{clock(f['left_s'])} left ({f['left_by']})"
        if f.get("phase") == "finalists":
            left += f" · finalists {f['finalists'] or ''}".rstrip()
        elif f.get("phase"):
            left += f" · {f['phase']}"
        if ended:
            return (f"Search ended: {f['trials_done']} of {f['trials_planned']} planned trials "
                    f"done · {epochs} · {best} · {clock(f['elapsed_s'])} elapsed")
        return (f"trials {f['trials_done']} done, {f['trials_running']} running, "
                f"{f['trials_planned']} planned · {epochs} · {best} · "
                f"{clock(f['elapsed_s'])} elapsed · {left}")

    def pairs(self) -> str:
        """The same figures as ``key=value`` pairs, for logs (``-``: not known)."""
        return " ".join(f"{k}={'-' if v is None else str(v).replace(' ', '_')}"
                        for k, v in self.figures().items())


def clock(seconds: float) -> str:
    """``1:05:09``, ``12:05``."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else \
        f"{s // 60}:{s % 60:02d}"


class ProgressCallback(tune.Callback):
    """Feeds :class:`Progress` from Ray Tune's events (listed before the trial printer, so
    a trial's line carries the figures that include it)."""

    def __init__(self, progress: Progress, number: Callable[[Trial], int]) -> None:
        self.progress = progress
        self.number = number
        self._scanned = False  # the restored trials' scores, read at the first event

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Unpickled by a resumed search: its restored trials are still to be read.
        self.__dict__.update(state)
        self._scanned = False

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        self._restored(trials)
        self.progress.start(trial.trial_id)

    def on_trial_result(self, iteration: int, trials: list[Trial], trial: Trial,
                        result: dict[str, Any], **info: Any) -> None:
        self._restored(trials)
        self.progress.result(trial.trial_id, int(result.get("training_iteration") or 0),
                             self.number(trial), result.get(METRIC))

    def _restored(self, trials: list[Trial]) -> None:
        # Once, at this process's first event: in a resumed search Ray has restored every
        # trial with what it reported before, so the best is the search's, not this
        # process's (the counts do restart). Later results come through on_trial_result.
        if self._scanned:
            return
        self._scanned = True
        for trial in trials:
            self.progress.scored(self.number(trial), best_score(trial))

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial,
                          **info: Any) -> None:
        self.progress.end(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        self.progress.end(trial.trial_id)


class Display:
    """Where the search's lines go. On a terminal, a status line redrawn in place (rich)
    with the per-trial lines printed above it; otherwise plain lines, each ending in the
    progress figures as ``key=value`` pairs."""

    def __init__(self, progress: Progress, stream: TextIO | None = None,
                 quiet: bool = False) -> None:
        self.progress = progress
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.live: Any = None

    @property
    def terminal(self) -> bool:
        return self.stream.isatty()

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run's callbacks into tuner.pkl; a terminal cannot be pickled.
        # Unpickled (a resumed search), lines go to this process's stdout.
        return {"progress": self.progress, "quiet": self.quiet}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["progress"], quiet=state["quiet"])  # type: ignore[misc]

    def __enter__(self) -> Display:
        if self.terminal and not self.quiet:
            from rich.console import Console
            from rich.live import Live

            status = _StatusLine(self.progress)
            self.live = Live(status, console=Console(file=self.stream), refresh_per_second=2,
                             transient=True)  # other output goes above the line
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()
            print(self.progress.line(ended=True), file=self.stream, flush=True)

    def write(self, line: str) -> None:
        """A per-trial line: above the status line, or with the figures appended."""
        if self.quiet:
            return
        if self.live is not None:
            self.live.console.print(line, markup=False, highlight=False, soft_wrap=True)
        else:
            print(f"{line} | progress {self.progress.pairs()}", file=self.stream, flush=True)


class _StatusLine:
    """A renderable that asks :class:`Progress` for its line at every refresh (so the
    elapsed time moves between events)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def __rich__(self) -> str:
        from rich.markup import escape

        return f"[bold]search[/bold] {escape(self.progress.line())}"
