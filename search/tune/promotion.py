"""ASHA of the promotion type (Li et al. 2020, Algorithm 2): trials wait at their rung.

Ray's ``ASHAScheduler`` is the *stopping* type: a trial reaching a rung goes on unless it
is below the top 1/η of the results recorded there *so far*. The first trials at every rung
are compared with nothing or with one result, so they pass for free, and in a short search
that start is most of the search: replayed on recorded curves (``benchmarks/
scheduler_replay.py``: 45 trial-epochs, 2 workers, 10,000 images) the stopping type starts
12.4 trials and ends at val 0.9859 on average, this scheduler at η = 3 starts 19.2 and ends
at 0.9875.

Here a trial reaching a rung is *paused* (Ray checkpoints it and frees its worker) unless
it is already in the top ⌊n/η⌋ of the n results at that rung; a free worker resumes the
best paused trial that has since entered its rung's top (the highest rung first), else
starts a new configuration. Trials that never enter it stay paused until the search ends
and are then stopped, as early-stopped trials.

With an epoch budget (``--epoch-budget``) the scheduler also plans the search's end
(:mod:`planned_end`): breadth at the first rung while the budget affords it, then the
best trials trained to the end. The searcher draws the configurations, from a sampler that
sees the trials waiting at the first rung as pruned there (:mod:`evidence`): Optuna is told
a trial only when it ends.

Ray saves no scheduler state: after ``mnist-hpo resume`` this object is the copy pickled
when the search began, with empty rungs, and every unfinished trial comes back PENDING,
which Ray starts whatever the scheduler says. So as Ray adds each restored trial, the rungs
are rebuilt from the trial's own records (``progress.csv``), and a trial whose records end
at a rung it had not passed is added PAUSED, to wait there again, instead of running on as
if it had won.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from mnist_hpo.reports.trial_files import read_epochs
from mnist_hpo.search.tune.asha import is_kept
from mnist_hpo.search.tune.callbacks import EpochBudget
from mnist_hpo.search.tune.planned_end import EndPlan
from mnist_hpo.search.tune.progress import rungs

log = logging.getLogger(__name__)


class PromotingASHA(FIFOScheduler):
    """Promotion-type ASHA on ``time_attr`` (epochs), one bracket.

    Args:
        max_t: Epochs of a trial that runs to the end.
        grace_period: The first rung, in epochs.
        reduction_factor: η: the top 1/η of a rung goes on to the next, at η × its epochs.
        kept: Configurations that run every epoch, never paused (the seed network, as in
            :class:`~mnist_hpo.search.tune.asha.SeedKeepingASHA`); their results still
            count in the rungs.
        max_concurrent: Trials training at once (Ray's own limit would count paused trials).
        epoch_budget: The search's budget in trial-epochs, counted as
            :class:`~mnist_hpo.search.tune.callbacks.EpochBudget` counts it; ``None``: no
            end is planned.
        finalists: Trials the end of an epoch budget is kept for.
    """

    def __init__(self, *, max_t: int, grace_period: int, reduction_factor: float,
                 kept: list[dict[str, Any]] | None = None, max_concurrent: int | None = None,
                 epoch_budget: int | None = None, finalists: int = 2,
                 time_attr: str = "training_iteration", metric: str | None = None,
                 mode: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._eta = reduction_factor
        self._rungs = rungs(max_t, grace_period, reduction_factor)
        self._max_t, self._time_attr = max_t, time_attr
        # Its own, not Ray's private ``_metric`` behind ``TrialScheduler.metric``: see metric.
        self._metric_name, self._mode = metric, mode
        self._kept = [dict(point) for point in kept or []]
        self._max_concurrent = max_concurrent
        self._results: dict[int, dict[str, float]] = {r: {} for r in self._rungs}
        self._promoted: dict[int, set[str]] = {r: set() for r in self._rungs}
        self._seen: set[str] = set()
        self._trained = EpochBudget(epoch_budget)  # epochs trained, counted as the stopper does
        # Told to pause: Ray shows such a trial RUNNING until its checkpoint is saved.
        self._pausing: set[str] = set()
        self._plan = None if epoch_budget is None or not self._rungs else EndPlan(
            epoch_budget, trained=self._trained, first_rung=self._results[self._rungs[0]],
            reserve=finalists * (max_t - self._rungs[0]), finalists=finalists,
            kept=self._kept, pausing=self._pausing)
        self._controller: Any = None  # Ray's, as last seen: for takes_new_configurations

    def set_search_properties(self, metric: str | None, mode: str | None,
                              **spec: Any) -> bool:
        if (self._metric_name and metric and self._metric_name != metric) or \
                (self._mode and mode and self._mode != mode):
            return False
        self._metric_name, self._mode = self._metric_name or metric, self._mode or mode
        return True

    @property
    def metric(self) -> str | None:
        """The metric the rungs rank by (Ray reads it from every scheduler)."""
        return self._metric_name

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]
                        ) -> str:
        self._controller = tune_controller
        epoch = int(result.get(self._time_attr, 0))
        self._trained(trial.trial_id, result)
        self._pausing.discard(trial.trial_id)
        if epoch >= self._max_t:
            return TrialScheduler.STOP
        # A trial restarted from an older checkpoint reports a rung again: once it has
        # passed a rung it keeps its place; otherwise its new score is judged.
        if epoch not in self._results or trial.trial_id in self._promoted[epoch] \
                or self._metric_name not in result:
            return TrialScheduler.CONTINUE
        self._results[epoch][trial.trial_id] = self._signed(float(result[self._metric_name]))
        if is_kept(trial, self._kept):
            self._promoted[epoch].add(trial.trial_id)
            return TrialScheduler.CONTINUE
        if self._plan is not None:  # the end is planned: breadth, then the finalists
            if self._plan.finishing(tune_controller, reporting=trial) and \
                    self._plan.is_finalist(trial.trial_id, tune_controller):
                self._promoted[epoch].add(trial.trial_id)
                return TrialScheduler.CONTINUE
            self._pausing.add(trial.trial_id)
            return TrialScheduler.PAUSE
        if trial.trial_id in self._top(epoch):
            self._promoted[epoch].add(trial.trial_id)
            return TrialScheduler.CONTINUE
        self._pausing.add(trial.trial_id)
        return TrialScheduler.PAUSE

    def on_trial_complete(self, tune_controller: Any, trial: Trial,
                          result: dict[str, Any]) -> None:
        # Ray stops a trial on its last epoch (``done``) or a stopper's word (a cost limit)
        # without asking on_trial_result: the planned end counts that epoch here. Uncounted,
        # the plan turned to the finalists late and the budget cut one of them two epochs
        # short (tests/golden/promotion-epoch-budget.json).
        if result:
            self._trained(trial.trial_id, result)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        self._controller = tune_controller
        trials: list[Trial] = tune_controller.get_trials()
        if self._max_concurrent is not None and self._training(trials) >= self._max_concurrent:
            return None
        paused: dict[str, Trial] = {t.trial_id: t for t in trials if t.status == Trial.PAUSED}
        resume = self._resumable(tune_controller, trials)
        if resume is not None:
            trial_id, rung = resume
            self._promoted[rung].add(trial_id)
            self._pausing.discard(trial_id)
            return paused[trial_id]
        pending = next((t for t in trials if t.status == Trial.PENDING), None)
        if pending is not None or self._plan is not None:
            return pending
        if paused and tune_controller.search_alg.is_finished() and not any(
                t.status == Trial.RUNNING for t in trials):
            # No new configuration will come and nothing running can change a rung's top:
            # the paused trials have lost. Left paused, Ray would wait for them forever.
            for trial in paused.values():
                tune_controller.stop_trial(trial)
        return None

    def _resumable(self, tune_controller: Any, trials: list[Trial]) -> tuple[str, int] | None:
        """The paused trial to resume now and the rung it passes, if any: with an epoch
        budget, the best unfinished finalist once the end is the finalists'; otherwise the
        furthest trial that has entered its rung's top since it paused."""
        paused = {t.trial_id for t in trials if t.status == Trial.PAUSED}
        if not paused:
            return None
        if self._plan is not None:
            if not self._plan.finishing(tune_controller):
                return None
            best = next(t for t in self._plan.candidates(trials) if t in paused)
            if not self._plan.is_finalist(best, tune_controller):
                return None
            return best, max(self._reached(best))
        for rung in reversed(self._rungs):  # the furthest trials first
            for trial_id in self._top(rung):
                if trial_id in paused and trial_id not in self._promoted[rung]:
                    return trial_id, rung
        return None

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        # Ray files the trial under the status it has when this returns.
        self._adopt(trial)

    def _adopt(self, trial: Trial) -> None:
        """Give a restored trial its place in the rungs, from its records (once per trial).

        A trial this object has not seen with results already is a restored one: its
        scores at the rungs count again, it has passed every rung below its last recorded
        epoch, and if that epoch is a rung it had not passed, it waits there again, PAUSED.
        """
        if trial.trial_id in self._seen:
            return
        self._seen.add(trial.trial_id)
        if not trial.has_reported_at_least_once:
            return  # a new trial (Ray may not even have named its folder yet)
        path = trial.path
        if not path or "://" in path:
            return  # remote storage: records are read from local folders only
        metric = self._metric_name or "val_accuracy"
        try:
            scores = {int(e["epoch"]): e[metric] for e in read_epochs(Path(path))
                      if not math.isnan(e.get(metric, math.nan))}
        except (OSError, ValueError) as err:
            log.warning("trial %s: its rungs are not restored (%s)", trial.trial_id, err)
            return
        last = max(scores, default=0)
        self._trained(trial.trial_id, {"training_iteration": last})
        for rung in self._rungs:
            if rung in scores:
                self._results[rung][trial.trial_id] = self._signed(scores[rung])
                if rung < last or is_kept(trial, self._kept):
                    self._promoted[rung].add(trial.trial_id)
        if last in self._rungs and trial.trial_id not in self._promoted[last] \
                and trial.status == Trial.PENDING:
            trial.set_status(Trial.PAUSED)  # type: ignore[no-untyped-call]

    def takes_new_configurations(self) -> bool:
        """For the searcher: whether a new configuration may be started. Ray starts the
        searcher's pending configuration on any free worker, whatever
        :meth:`choose_trial_to_run` returns, so this is where the scheduler's limits hold:
        not while ``max_concurrent`` trials are training or about to (a worker freed by a
        paused trial is not a slot), and not while the end of an epoch budget is being spent
        on finalists that still have epochs to train (that epoch would come out of theirs)."""
        controller = self._controller
        if controller is None:
            return True  # nothing started yet
        trials: list[Trial] = controller.get_trials()
        if self._max_concurrent is not None and self._training(trials) + sum(
                t.status == Trial.PENDING for t in trials) + \
                (self._resumable(controller, trials) is not None) >= self._max_concurrent:
            return False  # the slots are taken, or the one free is a promotion's
        return self._plan is None or self._plan.takes_new_configurations(controller)

    def _training(self, trials: list[Trial]) -> int:
        """Trials holding a worker for more epochs: RUNNING and not told to pause (Ray
        shows a pausing trial RUNNING until its checkpoint is saved)."""
        return sum(t.status == Trial.RUNNING and t.trial_id not in self._pausing
                   for t in trials)

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the scheduler (tuner.pkl); its controller is not to be pickled.
        return {k: v for k, v in self.__dict__.items() if k != "_controller"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_metric_name" not in state:  # pickled by a version that kept it as "_metric"
            state = {k: v for k, v in state.items() if k != "_metric"} | {
                "_metric_name": state.get("_metric")}
        self.__dict__.update(state)
        self._controller = None

    def _reached(self, trial_id: str) -> list[int]:
        """The rungs where ``trial_id`` has a result."""
        return [r for r in self._rungs if trial_id in self._results[r]]

    def _signed(self, score: float) -> float:
        """Higher is better in the rungs, whatever the mode."""
        return -score if self._mode == "min" else score

    def _top(self, rung: int) -> list[str]:
        """The trials in the top ⌊n/η⌋ of the ``n`` results at ``rung``, best first."""
        recorded = self._results[rung]
        ranked = sorted(recorded, key=lambda trial_id: -recorded[trial_id])
        return ranked[:int(len(ranked) / self._eta)]

    def debug_string(self) -> str:
        return "Promotion-type ASHA: " + ", ".join(
            f"epoch {r}: {len(self._promoted[r])}/{len(self._results[r])} on"
            for r in self._rungs)

