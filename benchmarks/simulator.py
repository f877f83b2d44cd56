"""A search in simulated time: the product's policy and sampler decide, recorded learning
curves stand in for training (the engine of ``benchmarks/simulated_search.py``).

What is simulated: ``workers`` workers that each hold one trial; a trial's epochs end at
simulated times (a cost model of its network), and its val_accuracy after each epoch is
the recorded curve of the nearest configuration trained for real: the caller's ``replay``
says which (``benchmarks/curve_pool.py``). The events are handled in time order, and the
driver's loop asks the policy and the sampler in the order Ray 2.60's ``TuneController``
asks the product's scheduler and searcher: a new configuration whenever none is pending
and a worker is free (the searcher asks the policy whether one may start), then the policy
chooses what the free worker takes (a paused trial to resume, or the pending one); for
every epoch reported the policy decides (CONTINUE, PAUSE, STOP), the searcher is told, and
an ended trial is told to both; after each event the policy says whether the epoch budget
is spent.

What is not: Ray (no controller, actors, object store or result queue: Ray's own cost is
a separate benchmark's to measure), TensorFlow, network latency, failures and
retries, checkpoint saves (a pause frees its worker at once) and the driver's own delay:
simulated time assumes every decision is instant, and the driver's real CPU time is
measured beside it (``benchmarks/driver_clock.py``).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from benchmarks.curve_pool import START_S
from benchmarks.driver_clock import Clock
from mnist_hpo.search.policy import (
    Admission,
    Decision,
    Policy,
    Snapshot,
    Trials,
    TrialState,
    TrialView,
)

T = TypeVar("T")
METRIC, EPOCH = "val_accuracy", "training_iteration"  # what the trainable reports


class Sampler(Protocol):
    """What the driver asks of a searcher (``OptunaSearcher``, Ray's interface)."""

    admission: Callable[[], bool] | None

    def suggest(self, trial_id: str) -> dict[str, Any] | None: ...

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None: ...

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None: ...


#: Trial number and configuration → the curve it replays and the seconds of one epoch.
Replay = Callable[[int, Mapping[str, Any]], tuple[Sequence[float], float]]


@dataclass
class SimTrial:
    """One trial as the simulated runner holds it."""

    id: str
    number: int
    config: Mapping[str, Any]
    curve: Sequence[float]
    epoch_s: float
    kept: bool
    state: TrialState = TrialState.PENDING
    scores: list[float] = field(default_factory=list)

    def view(self) -> TrialView:
        return TrialView(self.id, self.number, self.state, len(self.scores),
                         tuple(self.scores), {}, self.kept)


@dataclass(frozen=True)
class Event:
    """A line of the trace: at ``time``, ``what`` (start, resume, result, pause, stop,
    stop paused) happened to ``trial``; ``busy``: workers holding a trial after it."""

    time: float
    what: str
    trial: str
    busy: int


@dataclass(frozen=True)
class Outcome:
    """What a simulated search did."""

    trials: int  # configurations created
    epochs: int  # trial-epochs trained
    simulated_s: float  # when the last event happened
    max_busy: int  # most workers holding a trial at once
    best_val: float  # the best val_accuracy reported: the search's result
    best_trial: str
    budget_reached: bool
    #: Trials not ended at the end: cut by the budget, or waiting when nothing ran any more
    #: (the policy held every worker back: a stall).
    unfinished: int


class Simulation:
    """One search on ``workers`` simulated workers.

    Args:
        policy: The product's policy.
        sampler: The product's searcher; its ``admission`` is set to the policy's.
        replay: What a new configuration trains like (curve, epoch seconds).
        workers: Workers.
        trials: Configurations at most (``--trials``).
        kept: Configurations that run every epoch (the warm starts the policy keeps).
        clock: Times the driver's calls.
        start_s: Seconds a worker takes to start or resume a trial.
        trace: Record every start, result, pause and stop (:attr:`events`).
    """

    def __init__(self, policy: Policy, sampler: Sampler, replay: Replay, *, workers: int,
                 trials: int, kept: Iterable[Mapping[str, Any]] = (),
                 clock: Clock | None = None, start_s: float = START_S,
                 trace: bool = False) -> None:
        if workers < 1 or trials < 1:
            raise ValueError(f"Simulation: need workers >= 1 and trials >= 1, but got "
                             f"({workers=}, {trials=})")
        self.policy, self.sampler, self.replay = policy, sampler, replay
        self.workers, self.total, self.start_s = workers, trials, start_s
        self.kept = [dict(point) for point in kept]
        self.clock = clock or Clock()
        self.trials: dict[str, SimTrial] = {}  # in creation order: the snapshot's order
        self.known = Trials()  # their views, indexed
        self.events: list[Event] | None = [] if trace else None
        self._pending: list[str] = []  # new trials waiting for a worker
        self._heap: list[tuple[float, int, str]] = []  # (epoch ends, sequence, trial)
        self._seq = self._busy = self._max_busy = self._epochs = 0
        self.now = 0.0
        self._best: tuple[float, str] = (-math.inf, "")

    def run(self) -> Outcome:
        """Run the search to its end: every trial ended, or the epoch budget spent."""
        self.sampler.admission = self._admits
        self._fill()
        reached = False
        while self._heap:
            self.now, _, trial_id = heapq.heappop(self._heap)
            self._result(self.trials[trial_id])
            if self._ask_policy("budget_reached", self.policy.budget_reached):
                reached = True  # the search ends now; epochs in flight are lost
                break
            self._fill()
        unfinished = sum(t.state is not TrialState.ENDED for t in self.trials.values())
        return Outcome(len(self.trials), self._epochs, self.now, self._max_busy,
                       self._best[0], self._best[1], reached, unfinished)

    # -- the driver's questions -----------------------------------------------------------

    def _snapshot(self, searcher_finished: bool) -> Snapshot:
        # Each trial's view is put when it changes, as the product's Ray adapter does.
        return self.known.snapshot(searcher_finished)

    def _ask_policy(self, kind: str, question: Callable[..., T], *args: Any,
                    searcher_finished: bool | None = None) -> T:
        finished = len(self.trials) >= self.total if searcher_finished is None \
            else searcher_finished

        def ask() -> T:
            return question(self.clock.part("snapshot", self._snapshot, finished), *args)

        return self.clock.call(kind, ask)

    def _admits(self) -> bool:
        # As PolicyScheduler.admits: asked by the searcher, which is not finished then.
        return self._ask_policy("admit", self.policy.admit,
                                searcher_finished=False) is Admission.START

    # -- the runner -----------------------------------------------------------------------

    def _fill(self) -> None:
        """Free workers take work, as Ray's loop does between results: a new configuration
        while none is pending, then the policy's choice."""
        while self._busy < self.workers:
            if not self._pending and len(self.trials) < self.total:
                self._new_trial()
            choice = self._ask_policy("choose", self.policy.choose)
            for trial_id in choice.stop:  # Ray's stop_trial on a paused trial
                self.trials[trial_id].state = TrialState.ENDED
                self.known.put(self.trials[trial_id].view())
                self.clock.call("on_trial_complete", self.sampler.on_trial_complete, trial_id)
                self._log("stop paused", trial_id)
            if choice.resume is not None:
                self._start(self.trials[choice.resume], "resume")
            elif self._pending:
                self._start(self.trials[self._pending.pop(0)], "start")
            else:
                return

    def _new_trial(self) -> None:
        trial_id = f"t{len(self.trials) + 1:05d}"
        self.clock.history = len(self.trials)
        config = self.clock.call("suggest", self.sampler.suggest, trial_id)
        if config is None:
            return  # held back: asked again after the next event
        number = len(self.trials) + 1
        curve, epoch_s = self.replay(number, config)
        kept = any(all(config.get(k) == v for k, v in point.items()) for point in self.kept)
        self.trials[trial_id] = SimTrial(trial_id, number, config, curve, epoch_s, kept)
        self.known.put(self.trials[trial_id].view())
        self.clock.history = len(self.trials)
        self._pending.append(trial_id)

    def _start(self, trial: SimTrial, what: str) -> None:
        if trial.state not in (TrialState.PENDING, TrialState.PAUSED):
            raise RuntimeError(f"{trial.id}: cannot {what} a trial that is {trial.state}")
        trial.state = TrialState.TRAINING
        self.known.put(trial.view())
        self._busy += 1
        self._max_busy = max(self._max_busy, self._busy)
        self._log(what, trial.id)
        self._after(self.start_s + trial.epoch_s, trial)

    def _result(self, trial: SimTrial) -> None:
        epoch = len(trial.scores) + 1
        if epoch > len(trial.curve):
            raise RuntimeError(f"{trial.id}: epoch {epoch} past its recorded curve "
                               f"({len(trial.curve)} epochs); the policy's max_t is higher")
        value = float(trial.curve[epoch - 1])
        trial.scores.append(value)
        self.known.put(trial.view())
        self._epochs += 1
        if value > self._best[0]:  # of equal scores, the first reported
            self._best = (value, trial.id)
        self._log("result", trial.id)
        result = {METRIC: value, EPOCH: epoch}
        decision = self._ask_policy("on_result", self.policy.on_result, trial.id)
        if decision is not Decision.STOP:  # Ray tells the searcher unless it stops
            self.clock.call("on_trial_result", self.sampler.on_trial_result, trial.id, result)
        if decision is Decision.CONTINUE:
            self._after(trial.epoch_s, trial)
            return
        if decision is Decision.STOP:
            self._ask_policy("on_end", self.policy.on_end, trial.id)
            self.clock.call("on_trial_complete", self.sampler.on_trial_complete, trial.id,
                            result)
        trial.state = TrialState.PAUSED if decision is Decision.PAUSE else TrialState.ENDED
        self.known.put(trial.view())
        self._busy -= 1
        self._log("pause" if decision is Decision.PAUSE else "stop", trial.id)

    def _after(self, seconds: float, trial: SimTrial) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (self.now + seconds, self._seq, trial.id))

    def _log(self, what: str, trial_id: str) -> None:
        if self.events is not None:
            self.events.append(Event(self.now, what, trial_id, self._busy))
