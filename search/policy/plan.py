"""The planned end of a budget (``--epoch-budget`` or ``--time-budget`` under
promotion-type ASHA).

While a new configuration is still affordable, breadth: every trial waits at the first
rung. Once it is not, no new configuration starts; the free workers carry the finalists
(:mod:`.finalists`: the best first-rung score, then the most unlike it among those as
good) to the end, and a trial reaching a rung below them waits. A first rung as wide as the
budget allows, then the best trained on: the one-epoch baseline of Egele et al. (2023).

"Affordable", by the budget's kind (one plan, the rest shared):

- **epochs**: the epochs trained, plus one for each trial training on, stay below the
  budget less the epochs ``finalists`` trials need from the first rung to the last;
- **time**: the work still to do, the new configuration first and then the finalists' (the
  time left of each, at its measured seconds per epoch), laid out on the workers, ends
  within the time left (:mod:`.budget`). With both budgets, both must afford it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from mnist_hpo.search.policy.budget import TimeEstimate, TimePlan
from mnist_hpo.search.policy.finalists import Finalist, pick
from mnist_hpo.search.policy.settings import PolicySettings
from mnist_hpo.search.policy.snapshot import Snapshot, TrialState, TrialView

_UNFINISHED = (TrialState.TRAINING, TrialState.PAUSED, TrialState.PENDING)


@dataclass(frozen=True)
class PlanReport:
    """What the planned end stands at, for the records (``Policy.plan``).

    Attributes:
        phase: ``"breadth"`` (new configurations, every trial waiting at the first rung)
            or ``"finalists"`` (no new configuration: the end is the finalists').
        finalists: The finalists (during breadth, those it would pick now), in the order
            picked, each with why.
        slots: How many it picks now (``--finalists`` less the kept trials training).
        epochs_spent: Trial-epochs trained so far.
        epoch_budget: The epoch budget (None: none).
        time: A time budget's estimate (None: no time budget, or nothing measured yet).
        trainable: Of ``finalists``, those the end still goes to (:meth:`EndPlan.trainable`):
            under a time budget, not one waiting at the first rung that can no longer be
            trained to its last epoch in the time left; its slot stays empty.
    """

    phase: str
    finalists: tuple[Finalist, ...]
    slots: int
    epochs_spent: int
    epoch_budget: int | None = None
    time: TimeEstimate | None = None
    trainable: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndPlan:
    """Who gets the end of a budget.

    Every question takes the snapshot, the first rung's scores (trial id → score, in the
    order recorded) and the trials told to pause that still hold their worker.

    Attributes:
        budget: The epoch budget in trial-epochs (None: a time budget only).
        reserve: Epochs kept for the finalists: ``finalists`` × (last epoch − first rung).
        finalists: Trials trained to the end (``--finalists``). A kept warm start still
            training when they are chosen is one of them (it takes a worker anyway); one
            that ended before is not, and is counted as already picked when the others are
            chosen to be unlike it.
        time: The time budget's plan (None: an epoch budget only).
    """

    budget: int | None
    reserve: int
    finalists: int
    time: TimePlan | None = None

    @property
    def timed(self) -> bool:
        return self.time is not None

    def finishing(self, snapshot: Snapshot, pausing: Set[str], reporting: str | None = None,
                  first: Mapping[str, float] | None = None) -> bool:
        """Whether the rest of the budget is the finalists': no new configuration is
        affordable (``reporting``, being decided, holds no worker), or none is left to
        start."""
        if snapshot.searcher_finished and not snapshot.ids(TrialState.PENDING):
            return True  # nothing new will come to spend the budget on
        if self.budget is not None:
            running = sum(trial_id != reporting and trial_id not in pausing
                          for trial_id in snapshot.ids(TrialState.TRAINING))
            if snapshot.spent + running >= self.budget - self.reserve:
                return True
        estimate = self.estimate(snapshot, first or {}, pausing, reporting)
        if estimate is not None:
            return not estimate.affords_more
        # Nothing measured yet: breadth, unless the time is already up.
        return self.timed and snapshot.time_left_s is not None and snapshot.time_left_s <= 0

    def estimate(self, snapshot: Snapshot, first: Mapping[str, float], pausing: Set[str],
                 reporting: str | None = None) -> TimeEstimate | None:
        """The time budget's estimate now (None: an epoch budget only, or nothing known)."""
        if self.time is None:
            return None
        chosen = [f.id for f in self.chosen(snapshot, first)]
        return self.time.estimate(snapshot, chosen, self.slots(snapshot), pausing, reporting)

    def candidates(self, snapshot: Snapshot, first: Mapping[str, float],
                   unfinished: bool = True) -> list[str]:
        """The trials with a first-rung result, not kept ones, best first by it: the
        unfinished ones, or with ``unfinished=False`` those that ended too.

        By the first rung, the one every candidate has: ranking the furthest rung first
        would lock in a trial resumed at the budget's end before the last configurations
        of the breadth had reported."""
        states = _UNFINISHED if unfinished else (*_UNFINISHED, TrialState.ENDED)
        ranked = [view.id for view in snapshot.trials
                  if view.state in states and not view.kept and view.id in first]
        return sorted(ranked, key=lambda trial_id: -first[trial_id])

    def chosen(self, snapshot: Snapshot, first: Mapping[str, float],
               unfinished: bool = False) -> list[Finalist]:
        """The finalists, in the order picked (:func:`.finalists.pick`), among the
        candidates (:meth:`candidates`), with the kept warm starts as already picked.
        Neither the clock nor the trials' progress changes them: a finalist trained to the
        end keeps its place."""
        signatures = {v.id: v.signature for v in snapshot.trials if v.signature is not None}
        kept = [v.signature for v in snapshot.trials if v.kept and v.signature is not None]
        return pick(self.candidates(snapshot, first, unfinished), first, self.slots(snapshot),
                    signatures, kept)

    def trainable(self, snapshot: Snapshot, finalists: list[Finalist],
                  pausing: Set[str] = frozenset()) -> list[str]:
        """Of ``finalists``, those the end still goes to: under a time budget, not one
        waiting at the first rung that can no longer be started and trained to its last
        epoch in the time left (the budget would cut it: its slot is left empty, the
        others keep their places). ``pausing``: trials told to pause that the snapshot
        still shows training, judged as waiting (for the records; the decisions ask
        without it)."""
        if self.time is None or snapshot.time_left_s is None:
            return [f.id for f in finalists]
        measured = self.time.measured(snapshot)
        mean = sum(measured) / len(measured) if measured else None
        return [f.id for f in finalists
                if self.time.can_finish(snapshot.trial(f.id), snapshot, mean,
                                        waiting=f.id in pausing)]

    def is_finalist(self, trial_id: str, snapshot: Snapshot, first: Mapping[str, float],
                    pausing: Set[str]) -> bool:
        """Whether the end of the budget goes to ``trial_id``: it is one of the
        :meth:`chosen`, counting those already trained to the end, none picked before it
        is waiting for a worker, and no configuration is still in its first epoch.

        Under an epoch budget, once the searcher has no configuration left, among the
        unfinished ones only. KNOWN WRONG, kept as today's code decides
        (tests/golden/promotion-epoch-budget-trials-run-out.json): the budget still ends
        the search, and a third finalist is resumed. A time budget ranks the ended ones
        too: a third finalist there would be cut by the budget.
        """
        unfinished = snapshot.searcher_finished and not self.timed
        chosen = self.chosen(snapshot, first, unfinished)
        coming = sum(other != trial_id and other not in first and not snapshot.trial(other).kept
                     for other in snapshot.ids(TrialState.TRAINING))
        if coming and not (self.timed and len(chosen) + coming <= self.slots(snapshot)):
            # A configuration still in its first epoch may rank above: wait for it (a
            # worker idles for part of an epoch; no epoch of the budget is spent). Not
            # when it fills an empty slot (:meth:`fills_a_slot`): it takes no one's.
            return False
        best = self.trainable(snapshot, chosen)
        if trial_id not in best:
            return False
        waiting = {*snapshot.ids(TrialState.PAUSED), *snapshot.ids(TrialState.PENDING),
                   *(t for t in snapshot.ids(TrialState.TRAINING) if t in pausing)}
        return not waiting.intersection(best[:best.index(trial_id)])

    def unfinished_finalists(self, snapshot: Snapshot, first: Mapping[str, float]) -> bool:
        """Whether a finalist still has epochs to train (and, under a time budget, the
        time to)."""
        best = set(self.trainable(snapshot, self.chosen(snapshot, first)))
        return bool(best.intersection(self.candidates(snapshot, first)))

    def takes_new_configurations(self, snapshot: Snapshot, first: Mapping[str, float],
                                 pausing: Set[str], finishing: bool | None = None) -> bool:
        """Not while the end is being spent on finalists that still have epochs to train:
        a new configuration's epoch would come out of theirs (``finishing``: the policy's
        own answer; under a time budget it holds once given, though the estimate may
        shrink). Once they are trained, under an epoch budget, new configurations spend
        what is left. Under a time budget they would come too late to matter, and would
        change the finalists' ranks: none, unless one fills an empty finalist slot
        (:meth:`fills_a_slot`) or every trial has ended (Ray, with no trial pending,
        training or paused, waits for the searcher and checks no budget: the search would
        never end)."""
        if finishing is None:
            finishing = self.finishing(snapshot, pausing, first=first)
        if not finishing:
            return True
        if self.timed:
            return snapshot.count(TrialState.ENDED) == len(snapshot.trials) or \
                self.fills_a_slot(snapshot, first, pausing)
        return not self.unfinished_finalists(snapshot, first)

    def fills_a_slot(self, snapshot: Snapshot, first: Mapping[str, float],
                     pausing: Set[str]) -> bool:
        """Under a time budget: whether a new configuration is to fill a finalist slot
        that neither a candidate nor a configuration on its way to the first rung fills
        (a budget too short for breadth beside ``finalists``, or fewer configurations
        than that): it is, if it can be trained straight to its last epoch in the time
        left after the finalists' epochs. Rather than a worker idling to the end."""
        if self.time is None:
            return False
        chosen = [f.id for f in self.chosen(snapshot, first)]
        coming = sum(t not in first and not snapshot.trial(t).kept
                     for t in (*snapshot.ids(TrialState.TRAINING),
                               *snapshot.ids(TrialState.PENDING)))
        if len(chosen) + coming >= self.slots(snapshot):
            return False
        return self.time.affords_finalist(snapshot, chosen, pausing)

    def fits(self, view: TrialView, snapshot: Snapshot) -> bool:
        """Whether ``view``, going on from where it is without a new start, can reach its
        last epoch in the time left (always, without a time budget)."""
        if self.time is None or snapshot.time_left_s is None:
            return True
        measured = self.time.measured(snapshot)
        seconds = view.epoch_s or (sum(measured) / len(measured) if measured else None)
        return seconds is None or \
            (self.time.max_t - view.epochs) * seconds <= snapshot.time_left_s

    def report(self, snapshot: Snapshot, first: Mapping[str, float], pausing: Set[str],
               finishing: bool) -> PlanReport:
        """The plan as it stands (``finishing``: the policy's answer)."""
        unfinished = snapshot.searcher_finished and not self.timed
        chosen = self.chosen(snapshot, first, unfinished)
        return PlanReport("finalists" if finishing else "breadth", tuple(chosen),
                          self.slots(snapshot), snapshot.spent, self.budget,
                          self.estimate(snapshot, first, pausing),
                          tuple(self.trainable(snapshot, chosen, pausing)))

    def slots(self, snapshot: Snapshot) -> int:
        """How many finalists: ``finalists`` less one for each kept trial still training
        (it takes a worker anyway), at least one."""
        kept = sum(snapshot.trial(t).kept for t in snapshot.ids(TrialState.TRAINING))
        return max(1, self.finalists - kept)


def end_plan(settings: PolicySettings) -> EndPlan | None:
    """The planned end of ``settings``' budgets, if planned."""
    if not settings.planned:
        return None
    rungs = settings.rungs
    time = None
    if settings.time_budget_s is not None:
        limits = [n for n in (settings.workers, settings.max_concurrent) if n is not None]
        time = TimePlan(settings.max_t, rungs, min(limits) if limits else None)
    return EndPlan(settings.epoch_budget, finalists=settings.finalists,
                   reserve=settings.finalists * (settings.max_t - rungs[0]), time=time)
