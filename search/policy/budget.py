"""The planned end of a time budget, in seconds: what the finalists still need, as measured.

A time budget is planned like an epoch budget (:mod:`.plan`): breadth while a new
configuration is still affordable, then the finalists trained to the end. What differs is
the unit: an epoch budget counts trial-epochs, and any worker's epoch spends one; a time
budget counts wall seconds, and a finalist's epochs follow one another on one worker. So
the question "is a new configuration still affordable?" is answered by a schedule, not a
sum: the work still to do, laid out on the workers as a runner would run it, must end
within the time left (:func:`makespan`). A sum (time left × workers ÷ seconds per epoch,
the trial-epochs left) is recorded beside it, but it cannot be the rule: two finalists of
8 epochs on 4 workers need 8 epochs of wall time, not 4, and three on 2 workers need 16,
not 12.

What is measured (by the runner, as data): each trial's seconds per epoch once started
(``TrialView.epoch_s``) and the seconds a trial takes to start on a worker before its first
epoch begins (``Snapshot.start_s``: building or loading its model, and what else a runner
does once per start). The work:

- **busy workers**: each trial training finishes its epoch in flight and on, to its next
  rung (a breadth trial, paused there), or to its last epoch (a kept warm start, a
  finalist): counted whole, as if the epoch in flight had just begun (a trial not yet
  through its first epoch, its start too);
- **then**: the new configuration asked about, started and trained to the first rung, on
  the first worker free, timed as a slow one (:data:`SLOW_QUANTILE` of the epoch times
  measured: its own is unknown, and the finalists wait for it); then, once it and every
  configuration in flight to the first rung have reported (the policy chooses the
  finalists only then), each finalist not training, started again and trained to its last
  epoch, and for each finalist slot no candidate fills yet, a trial from the first rung to
  its last epoch at the mean epoch time.

A finalist waiting at the first rung that could no longer be started and trained to its
last epoch in the time left is not resumed (:meth:`TimePlan.can_finish`; its slot stays
empty: the finalists themselves do not change with the clock).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence, Set
from dataclasses import dataclass

from mnist_hpo.search.policy.snapshot import Snapshot, TrialState, TrialView

#: A new configuration's epochs are timed at this quantile of the epoch times measured.
SLOW_QUANTILE = 0.9


@dataclass(frozen=True)
class TimeEstimate:
    """What the plan of a time budget measured and concluded, for one question.

    Attributes:
        time_left_s: Seconds left of the budget.
        workers: Trials training at once.
        epoch_s: Seconds per epoch of the finalists-to-be (their mean; the mean measured
            before there are any).
        new_epoch_s: Seconds per epoch of a new configuration (:data:`SLOW_QUANTILE` of
            those measured).
        start_s: Seconds a trial takes to start on a worker (0: not measured).
        needed_s: Wall seconds until the finalists end, a new configuration first.
    """

    time_left_s: float
    workers: int
    epoch_s: float
    new_epoch_s: float
    start_s: float
    needed_s: float

    @property
    def affords_more(self) -> bool:
        """Whether a new configuration still fits before the finalists' end."""
        return self.needed_s <= self.time_left_s

    @property
    def epochs_left(self) -> float:
        """The time left as trial-epochs of the finalists: seconds × workers ÷ seconds per
        epoch (recorded; the rule is :attr:`affords_more`)."""
        return self.time_left_s * self.workers / self.epoch_s


def makespan(busy: Sequence[float], queue: Sequence[float], workers: int,
             not_before: float = 0.0) -> float:
    """Seconds until every piece of work has ended: ``busy`` workers free after their
    seconds, the others free now; each piece of ``queue``, in order, starts on the first
    worker free, not before ``not_before``, and runs there to its end."""
    free = sorted(busy) + [0.0] * max(0, workers - len(busy))
    end = max(free, default=0.0)
    heapq.heapify(free)
    for seconds in queue:
        done = max(heapq.heappop(free), not_before) + seconds
        heapq.heappush(free, done)
        end = max(end, done)
    return end


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (the nearest rank above: errs high)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class TimePlan:
    """The time budget's side of :class:`.plan.EndPlan`.

    Attributes:
        max_t: Epochs of a trial trained to the end.
        rungs: The rungs (the first: where breadth waits).
        workers: Trials that can train at once (None: those training now, at least one).
    """

    max_t: int
    rungs: tuple[int, ...]
    workers: int | None = None

    @staticmethod
    def measured(snapshot: Snapshot) -> list[float]:
        """The trials' measured seconds per epoch."""
        return [v.epoch_s for v in snapshot.trials if v.epoch_s]

    def can_finish(self, view: TrialView, snapshot: Snapshot, mean: float | None,
                   waiting: bool = False) -> bool:
        """Whether ``view``, waiting at the first rung, can still be started and trained
        to its last epoch in the time left: a finalist that cannot would be cut by the
        budget, its epochs spent for nothing. One training, or resumed and waiting for its
        worker, goes on (one just reporting its first rung is asked ``EndPlan.fits``);
        ``waiting``: it is being paused, and is asked as if it were."""
        left = snapshot.time_left_s
        seconds = view.epoch_s or mean
        paused = waiting or view.state is TrialState.PAUSED
        if left is None or seconds is None or not paused or view.trained > self.rungs[0]:
            return True
        start = snapshot.start_s or 0.0
        return start + (self.max_t - view.trained) * seconds <= left

    def estimate(self, snapshot: Snapshot, finalists: Sequence[str], slots: int,
                 pausing: Set[str], reporting: str | None = None) -> TimeEstimate | None:
        """The estimate for ``snapshot`` with ``finalists`` (the finalists-to-be picked so
        far, of ``slots``); None when no time is known or nothing is measured yet.

        ``reporting`` (being decided; it goes on without a new start if it goes on) and the
        trials in ``pausing`` hold no worker. A new configuration already waiting for a
        worker is the one asked about, not counted twice: the epoch budget's count does
        the same."""
        work = self._work(snapshot, finalists, pausing, reporting)
        if work is None:
            return None
        free, breadth, waiting, workers, mean, slow, start = work
        first = self.rungs[0]
        new_end = free.pop(0) + start + first * slow  # on the first worker free
        free.append(new_end)
        unfilled = [start + (self.max_t - first) * mean] * max(0, slots - len(finalists))
        needed = makespan(free, [*waiting, *unfilled], workers,
                          not_before=max(new_end, *breadth))
        views = [snapshot.trial(t) for t in finalists]
        epoch_s = sum(v.epoch_s or mean for v in views) / len(views) if views else mean
        return TimeEstimate(time_left_s=snapshot.time_left_s or 0.0, workers=workers,
                            epoch_s=epoch_s, new_epoch_s=slow, start_s=start,
                            needed_s=needed)

    def affords_finalist(self, snapshot: Snapshot, finalists: Sequence[str],
                         pausing: Set[str]) -> bool:
        """Whether a new configuration, started on the first worker free once the work in
        flight and the waiting ``finalists``' epochs have theirs, can be trained straight
        to its last epoch (at :data:`SLOW_QUANTILE` of the epoch times) within the time
        left: a finalist slot no candidate fills is filled so. The configurations on their
        way to the first rung, and those waiting for a worker, are taken to fill slots
        too: trained to their last epoch."""
        coming = [t for t in snapshot.ids(TrialState.TRAINING)
                  if t not in pausing and not snapshot.trial(t).kept
                  and not snapshot.trial(t).trained]
        work = self._work(snapshot, finalists, pausing, straight=set(coming))
        if work is None:
            return False
        free, _, waiting, workers, _, slow, start = work
        pending = sum(not snapshot.trial(t).trained for t in snapshot.ids(TrialState.PENDING))
        new = [start + self.max_t * slow] * (1 + pending)
        return makespan(free, [*waiting, *new], workers) <= (snapshot.time_left_s or 0.0)

    def _work(self, snapshot: Snapshot, finalists: Sequence[str], pausing: Set[str],
              reporting: str | None = None, straight: Set[str] = frozenset()
              ) -> tuple[list[float], list[float], list[float], int, float, float, float] | None:
        """The work still to do, laid out for :func:`makespan`: each worker's seconds
        until it is free (all of them; the trials in ``straight`` trained to their last
        epoch), the seconds of the configurations in flight to the first rung (and a 0),
        the waiting finalists' seconds to their last epoch; the workers, the mean and
        slow epoch times, the start (None: nothing known)."""
        left, measured = snapshot.time_left_s, self.measured(snapshot)
        if left is None or not measured:
            return None
        mean, slow = sum(measured) / len(measured), quantile(measured, SLOW_QUANTILE)
        start, first = snapshot.start_s or 0.0, self.rungs[0]

        def seconds(view: TrialView) -> float:
            return view.epoch_s or mean

        chosen = set(finalists)
        busy, breadth = [], [0.0]
        for trial_id in snapshot.ids(TrialState.TRAINING):
            if trial_id == reporting or trial_id in pausing:
                continue
            view = snapshot.trial(trial_id)
            to_end = view.kept or trial_id in straight or \
                (trial_id in chosen and view.epochs >= first)
            end = self.max_t if to_end else \
                next((r for r in self.rungs if r > view.epochs), self.max_t)
            busy.append((end - view.epochs) * seconds(view) + (0 if view.epochs else start))
            if not view.kept and view.epochs < first:
                breadth.append(busy[-1])
        workers = self.workers or max(1, snapshot.count(TrialState.TRAINING))
        free = sorted([*busy, *[0.0] * max(0, workers - len(busy))])
        views = [snapshot.trial(t) for t in finalists]
        waiting = [(self.max_t - v.trained) * seconds(v) + (0 if v.id == reporting else start)
                   for v in views if v.state is not TrialState.ENDED and (
                       v.id == reporting or v.id in pausing
                       or v.state is not TrialState.TRAINING)]
        return free, breadth, waiting, workers, mean, slow, start
