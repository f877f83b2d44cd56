"""The search's decisions under Ray Tune: a thin ``TrialScheduler`` around the policy.

Every rule lives in :mod:`mnist_hpo.search.policy`; this module only translates Ray's calls
into policy snapshots (the reporting trial's new result merged in; only the trials Ray
may have changed read again) and the policy's answers into Ray's values. The searcher asks
whether a new configuration may start through :meth:`PolicyScheduler.admits`, handed to it
at each call. Pickled into Ray's ``tuner.pkl``: the policy, not Ray's ``Trial`` objects (a
resumed search rebuilds the rungs from the records). The account, with the reasons:
docs/design/scheduling.md, "Ray's events, as snapshots and decisions".
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from mnist_hpo.search.experiment.names import COST_KEYS, SIGNATURE_KEY
from mnist_hpo.search.experiment.trial_files import read_rungs
from mnist_hpo.search.policy import (
    Admission,
    Policy,
    Snapshot,
    Trials,
    TrialState,
    TrialView,
)
from mnist_hpo.search.tune.clock import BudgetClock
from mnist_hpo.search.tune.epoch_times import EpochTimes
from mnist_hpo.search.tune.plan_records import PlanRecorder, experiment_folder

log = logging.getLogger(__name__)

EPOCH = "training_iteration"

#: Ray's trial statuses as the policy names them (ERROR: it will train no more).
STATES = {Trial.PENDING: TrialState.PENDING, Trial.RUNNING: TrialState.TRAINING,
          Trial.PAUSED: TrialState.PAUSED}  # TERMINATED, ERROR: ENDED


class PolicyScheduler(TrialScheduler):
    """Ray's scheduler interface over a :class:`~mnist_hpo.search.policy.Policy`.

    Args:
        policy: The search's rules and their memory.
        kept: Configurations (of searched parameters) that run every epoch: a trial whose
            config has each value of one is ``kept`` in its view. Which warm starts are
            kept is the policy's setting (``PolicySettings.keeps``); the factory passes
            their configurations.
        metric: The result key of the score (higher is better).
        clock: The time budget's clock (``policy.settings.time_budget_s``), this
            scheduler's own: the snapshot's ``time_left_s``.
        records: The experiment folder is local (its trials' folders' parent): the plan's
            records go there, and a resumed search's clock is set from it. False for remote
            storage, whose paths Ray gives without their scheme.
    """

    def __init__(self, policy: Policy, *, kept: Sequence[Mapping[str, Any]] = (),
                 metric: str | None = None, clock: BudgetClock | None = None,
                 records: bool = True) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.policy = policy
        self._kept = [dict(point) for point in kept]
        self._metric_name = metric
        settings = policy.settings
        if clock is None and settings.time_budget_s is not None:
            clock = BudgetClock(settings.time_budget_s)
        self._clock = clock
        self._records = records
        self._recorder = PlanRecorder({"time_budget_s": settings.time_budget_s,
                                       "epoch_budget": settings.epoch_budget,
                                       "finalists": settings.finalists,
                                       "workers": settings.workers})
        self._forget_trials()

    def _forget_trials(self) -> None:
        # Ray's trials and what was read of them: never pickled.
        self._trials: dict[str, Trial] = {}  # as Ray added them, in its order
        # Trial id → (status, last result object, view): a trial's view is rebuilt only when
        # Ray gave it a new status or result, not at every event of every trial.
        self._views: dict[str, tuple[str, object, TrialView]] = {}
        self._numbers: dict[str, int] = {}  # trial id → 1, 2, 3... in Ray's order
        self._known = Trials()  # the views as last read, indexed: a snapshot is a copy
        # Read again at the next snapshot: pending and running trials (Ray changes their
        # status unasked), those a call or choice touched; paused, ended ones stay put.
        self._unsettled: dict[str, Trial] = {}
        # Trial id → its first rung's predicted labels (reported once, at that rung).
        self._signatures: dict[str, bytes] = {}
        self._times = EpochTimes(self._now)
        self._clock_synced = False  # a resumed search's clock, set from the stopper's file

    # -- Ray's interface ------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if mode not in (None, "max") or (self._metric_name and metric
                                         and metric != self._metric_name):
            return False  # the policy ranks higher scores first
        self._metric_name = self._metric_name or metric
        return True

    @property
    def metric(self) -> str | None:  # Ray reads it from every scheduler
        return self._metric_name

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        # Ray files the trial under the status it has when this returns.
        self._link(tune_controller)
        self._trials[trial.trial_id] = trial
        self._numbers[trial.trial_id] = len(self._numbers) + 1
        self._unsettled[trial.trial_id] = trial
        if trial.has_reported_at_least_once:  # a resumed search re-adds it
            self._sync_clock(trial)
            state = self.policy.restored(self._restored_view(trial))
            if state is TrialState.PAUSED and trial.status == Trial.PENDING:
                trial.set_status(Trial.PAUSED)  # type: ignore[no-untyped-call]

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]
                        ) -> str:
        self._link(tune_controller)
        self._times.result(trial.trial_id, result)
        if isinstance(result.get(SIGNATURE_KEY), str):
            self._signatures[trial.trial_id] = result[SIGNATURE_KEY].encode("ascii")
        snapshot = self.snapshot(_finished(tune_controller), trial, result)
        decision = self.policy.on_result(snapshot, trial.trial_id).value
        self._record(snapshot)
        return decision

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]
                          ) -> None:
        self._link(tune_controller)
        snapshot = self.snapshot(_finished(tune_controller), trial, result)
        self.policy.on_end(snapshot, trial.trial_id)
        self._record(snapshot)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._link(tune_controller)
        self._unsettled[trial.trial_id] = trial  # it ends: read at the next snapshot

    on_trial_remove = on_trial_error

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        self._link(tune_controller)
        if not self._waiting():
            return None  # the policy's answer with no trial pending or paused
        snapshot = self.snapshot(_finished(tune_controller))
        choice = self.policy.choose(snapshot)
        for trial_id in choice.stop:  # Left paused, Ray would wait for them forever.
            self._unsettled[trial_id] = self._trials[trial_id]
            tune_controller.stop_trial(self._trials[trial_id])
        if choice.resume is not None:
            self._record(snapshot)  # a finalist resumed: the plan may have turned
            self._unsettled[choice.resume] = self._trials[choice.resume]
            self._times.handed(choice.resume)
            return self._trials[choice.resume]
        pending = snapshot.ids(TrialState.PENDING)
        if pending:
            self._times.handed(pending[0])  # a start is timed from here to its result
        return self._trials[pending[0]] if pending else None

    def _waiting(self) -> bool:
        """A trial pending or paused, as last read or now among the unsettled (a trial turns
        paused once the policy paused it): else there is nothing to choose (Ray asks at every
        step) and no snapshot is built to say so."""
        known = self._known.count(TrialState.PENDING) + self._known.count(TrialState.PAUSED)
        return bool(known) or any(t.status in (Trial.PENDING, Trial.PAUSED)
                                  for t in self._unsettled.values())

    def debug_string(self) -> str:
        settings = self.policy.settings
        return f"{settings.rule.name.lower()} policy, rungs at epochs {settings.rungs}"

    def admits(self) -> bool:  # the searcher asks, while Ray's generator is not finished
        return self.policy.admit(self.snapshot(searcher_finished=False)) is Admission.START

    # -- Ray's trials as the policy sees them ---------------------------------------------

    def snapshot(self, searcher_finished: bool, reporting: Trial | None = None,
                 result: Mapping[str, Any] | None = None) -> Snapshot:
        """The trials Ray added, as they are now; ``reporting``'s ``result`` (not yet its
        last result when Ray hands it over) merged in."""
        for trial in list(self._unsettled.values()):
            self._view(trial, self._numbers[trial.trial_id], None)
        if reporting is not None:
            self._view(reporting, self._numbers[reporting.trial_id], result)
        left = None if self._clock is None else self._clock.read()
        return self._known.snapshot(searcher_finished, left, self._times.start_s)

    def _view(self, trial: Trial, number: int, result: Mapping[str, Any] | None) -> TrialView:
        """``trial``'s view, read again from Ray's trial if its status or last result
        changed (``result``: merged in, for the call that hands it over), and put into
        the index the snapshots copy."""
        trial_id = trial.trial_id
        if trial.status in (Trial.PENDING, Trial.RUNNING) or result is not None:
            self._unsettled[trial_id] = trial
        else:
            self._unsettled.pop(trial_id, None)
        # Ray hands each result over as a new dict (Trial.update_last_result).
        reported = trial.last_result if trial.has_reported_at_least_once else None
        cached = self._views.get(trial_id)
        if result is None and cached is not None and cached[0] == trial.status and \
                cached[1] is reported:
            return cached[2]
        view = self._build_view(trial, number, result)
        # A view with a result merged in is read again once Ray has filed that result.
        self._views[trial_id] = (trial.status, _MERGED if result else reported, view)
        self._known.put(view)
        return view

    def _build_view(self, trial: Trial, number: int, result: Mapping[str, Any] | None) -> TrialView:
        last = dict(trial.last_result or {}) if trial.has_reported_at_least_once else {}
        if result:
            last |= dict(result)
        epochs = int(last.get(EPOCH) or 0)
        furthest = (trial.metric_analysis.get(EPOCH) or {}).get("max", 0)
        scores = [math.nan] * max(epochs, int(furthest or 0))
        if epochs and (score := last.get(self._metric_name or "")) is not None:
            scores[epochs - 1] = float(score)
        costs = {k: float(last[k]) for k in COST_KEYS if k in last}
        return TrialView(trial.trial_id, number, STATES.get(trial.status, TrialState.ENDED),
                         epochs, tuple(scores), costs, self._is_kept(trial),
                         self._times.epoch_s(last), self._signatures.get(trial.trial_id))

    def _restored_view(self, trial: Trial) -> TrialView:
        """A re-added trial with every score of its records (``progress.csv``)."""
        view = self._view(trial, self._numbers[trial.trial_id], None)
        if not trial.path or "://" in trial.path:
            return view  # remote storage: records are read from local folders only
        try:
            epochs, signature = read_rungs(Path(trial.path), self._metric_name or "val_accuracy")
        except (OSError, ValueError) as err:
            log.warning("trial %s: its rungs are not restored (%s)", trial.trial_id, err)
            return view
        if signature is not None:
            self._signatures[trial.trial_id] = signature.encode("ascii")
            self._views.pop(trial.trial_id, None)  # built above without it
            self._unsettled[trial.trial_id] = trial
        scores = tuple(epochs.get(e, math.nan) for e in range(1, max(epochs, default=0) + 1))
        return TrialView(view.id, view.number, view.state, max(view.epochs, len(scores)),
                         scores, view.costs, view.kept, view.epoch_s,
                         self._signatures.get(trial.trial_id))

    def _is_kept(self, trial: Trial) -> bool:
        return any(all(trial.config.get(k) == v for k, v in p.items()) for p in self._kept)

    def _link(self, tune_controller: Any) -> None:
        """Hand the searcher Ray is using this scheduler's :meth:`admits`."""
        searcher = getattr(tune_controller, "search_alg", None)
        for _ in range(4):  # Ray's SearchGenerator, a ConcurrencyLimiter, the searcher
            if searcher is None or hasattr(searcher, "admission"):
                break
            searcher = getattr(searcher, "searcher", None)
        if searcher is not None and hasattr(searcher, "admission"):
            searcher.admission = self.admits

    # -- the time budget's clock and the plan's records -----------------------------------

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else time.monotonic()

    def _sync_clock(self, trial: Trial) -> None:
        """A resumed search: Ray restored this scheduler as pickled when the search began,
        its clock with the whole budget. The stopper's clock was restored with what was
        left and wrote it into the experiment folder (local folders only): plan with that."""
        folder = experiment_folder(trial) if self._records else None
        if self._clock is None or self._clock_synced or folder is None:
            return
        self._clock_synced = True
        if not self._clock.resume_from(folder):
            log.warning("the time budget's plan goes on with %.0f s left: what the search "
                        "had left is not readable in %s", self._clock.left, folder)

    def _record(self, snapshot: Snapshot) -> None:
        """Write the plan's records into the experiment folder if they changed."""
        if self.policy.settings.planned and self._records:
            self._recorder.record(list(self._trials.values()), self.policy.plan(snapshot))

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the scheduler into tuner.pkl: the policy and settings, not Ray's trials.
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_trials", "_views", "_numbers", "_known", "_unsettled",
                             "_signatures", "_clock_synced", "_times")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._forget_trials()


_MERGED = object()  # the last result a view was built from: one merged in, not yet Ray's


def _finished(tune_controller: Any) -> bool:
    """Whether Ray's search generator will give no new configuration."""
    return bool(tune_controller.search_alg.is_finished())

