"""The end of an epoch budget, planned (``--epoch-budget`` under promotion-type ASHA).

Once the epochs trained, plus one for each trial training, reach the budget less the epochs
``finalists`` trials need from the first rung to the last, no new configuration starts; the
free workers carry the best unfinished trials (by their first-rung score) to the end, and a
trial reaching a rung below them waits. Without it the search would end with a dozen trials
cut at epoch 1–3 and its best configurations unfinished: a first rung as wide as the budget
allows, then the best trained on, is the one-epoch baseline of Egele et al. (2023), run
under Ray. :class:`~mnist_hpo.search.tune.promotion.PromotingASHA` asks; this decides.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial

from mnist_hpo.search.tune.asha import is_kept
from mnist_hpo.search.tune.callbacks import EpochBudget

#: A trial not yet ended: training, waiting at a rung, or chosen to resume (PENDING).
UNFINISHED = (Trial.RUNNING, Trial.PAUSED, Trial.PENDING)


class EndPlan:
    """Who gets the last epochs of an epoch budget.

    Args:
        budget: The search's budget in trial-epochs.
        trained: The epochs trained so far, counted as the budget's stopper counts them.
        first_rung: Trial id → signed score (higher is better) at the first rung; the
            scheduler's own dict, filled as trials report.
        reserve: Epochs kept for the finalists: ``finalists`` × (last epoch − first rung).
        finalists: Trials the end is kept for.
        kept: Configurations that run every epoch anyway (the warm starts).
        pausing: Trials told to pause that Ray still shows RUNNING (the scheduler's set).
    """

    def __init__(self, budget: int, *, trained: EpochBudget, first_rung: dict[str, float],
                 reserve: int, finalists: int, kept: list[dict[str, Any]],
                 pausing: set[str]) -> None:
        self._budget, self._trained, self._first = budget, trained, first_rung
        self._reserve, self._finalists = reserve, finalists
        self._kept, self._pausing = kept, pausing

    def finishing(self, tune_controller: Any, reporting: Trial | None = None) -> bool:
        """Whether the budget left is the finalists': the epochs trained, plus one for each
        trial training on (not ``reporting``, which is being decided), reach the budget
        less the reserve; or no configuration is left to start."""
        trials: list[Trial] = tune_controller.get_trials()
        if tune_controller.search_alg.is_finished() and \
                not any(t.status == Trial.PENDING for t in trials):
            return True  # --trials reached: nothing new will come to spend the budget on
        running = sum(t.status == Trial.RUNNING and t is not reporting
                      and t.trial_id not in self._pausing for t in trials)
        return self._trained.spent + running >= self._budget - self._reserve

    def candidates(self, trials: list[Trial], unfinished: bool = True) -> list[str]:
        """The trials with a result at the first rung, not kept ones, best first by that
        result: the unfinished ones (running, paused, or pending: being resumed), or with
        ``unfinished=False`` those that ran to the end too.

        By the first rung, the one every candidate has: ranking the furthest rung first, as
        ASHA promotes, would lock in a trial resumed at the budget's end before the last
        configurations of the breadth had reported."""
        statuses = UNFINISHED if unfinished else (*UNFINISHED, Trial.TERMINATED)
        ranked = [t.trial_id for t in trials if t.status in statuses
                  and not is_kept(t, self._kept) and t.trial_id in self._first]
        return sorted(ranked, key=lambda trial_id: -self._first[trial_id])

    def is_finalist(self, trial_id: str, tune_controller: Any) -> bool:
        """Whether the end of the budget goes to ``trial_id``: it is among the best
        :meth:`slots`, counting those already trained to the end, no better one is waiting
        for a worker, and no configuration is still in its first epoch. Once the searcher
        has no configuration left, among the unfinished ones: the budget is no longer what
        ends the search."""
        trials: list[Trial] = tune_controller.get_trials()
        if any(t.status == Trial.RUNNING and t.trial_id != trial_id
               and not is_kept(t, self._kept) and t.trial_id not in self._first
               for t in trials):
            # A configuration still in its first epoch may rank above: wait for it (a
            # worker idles for part of an epoch; no epoch of the budget is spent).
            return False
        ranked = self.candidates(trials, unfinished=tune_controller.search_alg.is_finished())
        top = ranked[:self.slots(trials)]
        if trial_id not in top:
            return False
        # Waiting for a worker: paused, being resumed (PENDING), or being paused.
        waiting = {t.trial_id for t in trials if t.status in (Trial.PAUSED, Trial.PENDING)
                   or (t.status == Trial.RUNNING and t.trial_id in self._pausing)}
        return not waiting.intersection(top[:top.index(trial_id)])

    def takes_new_configurations(self, tune_controller: Any) -> bool:
        """Not while the end is being spent on finalists that still have epochs to train:
        a new configuration's epoch would come out of theirs."""
        if not self.finishing(tune_controller):
            return True
        trials: list[Trial] = tune_controller.get_trials()
        top = self.candidates(trials, unfinished=False)[:self.slots(trials)]
        return not set(top).intersection(self.candidates(trials))

    def slots(self, trials: list[Trial]) -> int:
        """How many finalists: ``finalists`` less one for each kept trial still training
        (it takes a worker anyway), at least one."""
        kept = sum(t.status == Trial.RUNNING and is_kept(t, self._kept) for t in trials)
        return max(1, self._finalists - kept)
