"""The planned end of an epoch budget (``--epoch-budget`` under promotion-type ASHA).

Once the epochs trained, plus one for each trial training on, reach the budget less the
epochs ``finalists`` trials need from the first rung to the last, no new configuration
starts; the free workers carry the best unfinished trials (by their first-rung score) to
the end, and a trial reaching a rung below them waits. A first rung as wide as the budget
allows, then the best trained on: the one-epoch baseline of Egele et al. (2023).
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from mnist_hpo.search.policy.snapshot import Snapshot, TrialState

_UNFINISHED = (TrialState.TRAINING, TrialState.PAUSED, TrialState.PENDING)


@dataclass(frozen=True)
class EndPlan:
    """Who gets the last epochs of an epoch budget.

    Every question takes the snapshot, the first rung's scores (trial id → score, in the
    order recorded) and the trials told to pause that still hold their worker.

    Attributes:
        budget: The search's budget in trial-epochs.
        reserve: Epochs kept for the finalists: ``finalists`` × (last epoch − first rung).
        finalists: Trials the end is kept for.
    """

    budget: int
    reserve: int
    finalists: int

    def finishing(self, snapshot: Snapshot, pausing: Set[str],
                  reporting: str | None = None) -> bool:
        """Whether the budget left is the finalists': the epochs trained, plus one for each
        trial training on (not ``reporting``, which is being decided), reach the budget
        less the reserve; or no configuration is left to start."""
        if snapshot.searcher_finished and not snapshot.ids(TrialState.PENDING):
            return True  # nothing new will come to spend the budget on
        running = sum(trial_id != reporting and trial_id not in pausing
                      for trial_id in snapshot.ids(TrialState.TRAINING))
        return snapshot.spent + running >= self.budget - self.reserve

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

    def is_finalist(self, trial_id: str, snapshot: Snapshot, first: Mapping[str, float],
                    pausing: Set[str]) -> bool:
        """Whether the end of the budget goes to ``trial_id``: it is among the best
        :meth:`slots`, counting those already trained to the end, no better one is waiting
        for a worker, and no configuration is still in its first epoch.

        Once the searcher has no configuration left, among the unfinished ones only. KNOWN
        WRONG, kept as today's code decides (tests/golden/promotion-epoch-budget-trials-
        run-out.json): the budget still ends the search, and a third finalist is resumed.
        """
        if any(other != trial_id and other not in first and not snapshot.trial(other).kept
               for other in snapshot.ids(TrialState.TRAINING)):
            # A configuration still in its first epoch may rank above: wait for it (a
            # worker idles for part of an epoch; no epoch of the budget is spent).
            return False
        ranked = self.candidates(snapshot, first, unfinished=snapshot.searcher_finished)
        best = ranked[:self.slots(snapshot)]
        if trial_id not in best:
            return False
        waiting = {*snapshot.ids(TrialState.PAUSED), *snapshot.ids(TrialState.PENDING),
                   *(t for t in snapshot.ids(TrialState.TRAINING) if t in pausing)}
        return not waiting.intersection(best[:best.index(trial_id)])

    def takes_new_configurations(self, snapshot: Snapshot, first: Mapping[str, float],
                                 pausing: Set[str]) -> bool:
        """Not while the end is being spent on finalists that still have epochs to train:
        a new configuration's epoch would come out of theirs."""
        if not self.finishing(snapshot, pausing):
            return True
        best = self.candidates(snapshot, first, unfinished=False)[:self.slots(snapshot)]
        return not set(best).intersection(self.candidates(snapshot, first))

    def slots(self, snapshot: Snapshot) -> int:
        """How many finalists: ``finalists`` less one for each kept trial still training
        (it takes a worker anyway), at least one."""
        kept = sum(snapshot.trial(t).kept for t in snapshot.ids(TrialState.TRAINING))
        return max(1, self.finalists - kept)
