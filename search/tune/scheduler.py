"""The search's decisions under Ray Tune: a thin ``TrialScheduler`` around the policy.

Every rule (rungs, the stopping and the promotion type of ASHA, the planned end of an
epoch budget, fronts at a rung, ``--max-concurrent``, cost limits, the warm starts that
run every epoch) lives in :mod:`mnist_hpo.search.policy`; this module only translates.
How one Ray event becomes a decision:

1. Ray calls a method here (``on_trial_result``, ``choose_trial_to_run``...) with its
   controller and a ``Trial``.
2. :meth:`PolicyScheduler.snapshot` turns the trials Ray added into a policy
   :class:`~mnist_hpo.search.policy.Snapshot`, reading each ``Trial``'s status and last
   result at that moment (the reporting trial's new result merged in).
3. The :class:`~mnist_hpo.search.policy.Policy` answers (a ``Decision``, a ``Choice``),
   and the answer goes back as Ray's value (``CONTINUE``/``PAUSE``/``STOP``, the trial to
   run, ``stop_trial`` for paused trials that lost).

Whether a new configuration may start is asked by the searcher (Ray starts a pending
configuration on any free worker, whatever ``choose_trial_to_run`` says), and the searcher
has no controller. So at each of its calls the scheduler hands the searcher Ray is using
(``tune_controller.search_alg``, unwrapped) its own :meth:`PolicyScheduler.admits`; the
searcher never pickles it. After ``mnist-hpo resume`` Ray re-adds every trial through
``on_trial_add`` before it asks the searcher again, so the restored searcher asks the
restored scheduler, whichever copies Ray unpickled: nothing is shared by reference across
a resume, and the policy is reachable only through the scheduler that owns it.

State: the policy (pickled with this object into Ray's ``tuner.pkl``) and the ``Trial``
objects Ray added (as Ray's own schedulers keep them; never pickled, their state read at
each call). Ray pickles the scheduler once, when the search begins, so a resumed search
rebuilds the policy's rungs from each trial's records as Ray re-adds it
(:meth:`~mnist_hpo.search.policy.Policy.restored`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from mnist_hpo.search.experiment.names import COST_KEYS
from mnist_hpo.search.experiment.trial_files import read_epochs
from mnist_hpo.search.policy import Admission, Policy, Snapshot, TrialState, TrialView

log = logging.getLogger(__name__)

EPOCH = "training_iteration"

#: Ray's trial statuses as the policy names them (ERROR: it will train no more).
STATES = {Trial.PENDING: TrialState.PENDING, Trial.RUNNING: TrialState.TRAINING,
          Trial.PAUSED: TrialState.PAUSED, Trial.TERMINATED: TrialState.ENDED,
          Trial.ERROR: TrialState.ENDED}


class PolicyScheduler(TrialScheduler):
    """Ray's scheduler interface over a :class:`~mnist_hpo.search.policy.Policy`.

    Args:
        policy: The search's rules and their memory.
        kept: Configurations (of searched parameters) that run every epoch: a trial whose
            config has each value of one is ``kept`` in its view. Which warm starts are
            kept is the policy's setting (``PolicySettings.keeps``); the factory passes
            their configurations.
        metric: The result key of the score (higher is better).
    """

    def __init__(self, policy: Policy, *, kept: Sequence[Mapping[str, Any]] = (),
                 metric: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.policy = policy
        self._kept = [dict(point) for point in kept]
        self._metric_name = metric
        self._trials: dict[str, Trial] = {}  # as Ray added them, in its order
        # Trial id → (status, last result object, number, view): a trial's view is rebuilt
        # only when Ray gave it a new status or result, not at every event of every trial.
        self._views: dict[str, tuple[str, object, int, TrialView]] = {}

    # -- Ray's interface ------------------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None,
                              **spec: Any) -> bool:
        if mode not in (None, "max") or (self._metric_name and metric
                                         and metric != self._metric_name):
            return False  # the policy ranks higher scores first
        self._metric_name = self._metric_name or metric
        return True

    @property
    def metric(self) -> str | None:
        """The result key the rungs rank by (Ray reads it from every scheduler)."""
        return self._metric_name

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        # Ray files the trial under the status it has when this returns.
        self._link(tune_controller)
        self._trials[trial.trial_id] = trial
        if trial.has_reported_at_least_once:  # a resumed search re-adds it
            state = self.policy.restored(self._restored_view(trial))
            if state is TrialState.PAUSED and trial.status == Trial.PENDING:
                trial.set_status(Trial.PAUSED)  # type: ignore[no-untyped-call]

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]
                        ) -> str:
        self._link(tune_controller)
        snapshot = self.snapshot(_finished(tune_controller), trial, result)
        return self.policy.on_result(snapshot, trial.trial_id).value

    def on_trial_complete(self, tune_controller: Any, trial: Trial,
                          result: dict[str, Any]) -> None:
        self._link(tune_controller)
        self.policy.on_end(self.snapshot(_finished(tune_controller), trial, result),
                           trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._link(tune_controller)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._link(tune_controller)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        self._link(tune_controller)
        choice = self.policy.choose(self.snapshot(_finished(tune_controller)))
        for trial_id in choice.stop:  # Left paused, Ray would wait for them forever.
            tune_controller.stop_trial(self._trials[trial_id])
        if choice.resume is not None:
            return self._trials[choice.resume]
        return next((t for t in self._trials.values() if t.status == Trial.PENDING), None)

    def debug_string(self) -> str:
        settings = self.policy.settings
        return f"{settings.rule.name.lower()} policy, rungs at epochs {settings.rungs}"

    # -- the searcher's question ----------------------------------------------------------

    def admits(self) -> bool:
        """Whether a new configuration may start now (the searcher asks; Ray asks the
        searcher only while it is not finished)."""
        return self.policy.admit(self.snapshot(searcher_finished=False)) is Admission.START

    # -- Ray's trials as the policy sees them ---------------------------------------------

    def snapshot(self, searcher_finished: bool, reporting: Trial | None = None,
                 result: Mapping[str, Any] | None = None) -> Snapshot:
        """The trials Ray added, as they are now; ``reporting``'s ``result`` (not yet its
        last result when Ray hands it over) merged in."""
        views = tuple(
            self._view(trial, number, result if trial is reporting else None)
            for number, trial in enumerate(self._trials.values(), start=1))
        return Snapshot(views, searcher_finished=searcher_finished)

    def _view(self, trial: Trial, number: int, result: Mapping[str, Any] | None
              ) -> TrialView:
        if result is not None:
            return self._build_view(trial, number, result)
        # Ray hands each result over as a new dict (Trial.update_last_result).
        reported = trial.last_result if trial.has_reported_at_least_once else None
        cached = self._views.get(trial.trial_id)
        if cached is not None and cached[0] == trial.status and cached[1] is reported and \
                cached[2] == number:
            return cached[3]
        view = self._build_view(trial, number, None)
        self._views[trial.trial_id] = (trial.status, reported, number, view)
        return view

    def _build_view(self, trial: Trial, number: int, result: Mapping[str, Any] | None
                    ) -> TrialView:
        last = dict(trial.last_result or {}) if trial.has_reported_at_least_once else {}
        if result:
            last |= dict(result)
        epochs = int(last.get(EPOCH) or 0)
        furthest = (trial.metric_analysis.get(EPOCH) or {}).get("max", 0)
        trained = max(epochs, int(furthest or 0))
        scores = [math.nan] * trained
        score = last.get(self._metric_name or "")
        if epochs and score is not None:
            scores[epochs - 1] = float(score)
        costs = {k: float(last[k]) for k in COST_KEYS if k in last}
        return TrialView(trial.trial_id, number, STATES.get(trial.status, TrialState.ENDED),
                         epochs, tuple(scores), costs, self._is_kept(trial))

    def _restored_view(self, trial: Trial) -> TrialView:
        """A re-added trial with every score of its records (``progress.csv``)."""
        view = self._view(trial, len(self._trials), None)
        path = trial.path
        if not path or "://" in path:
            return view  # remote storage: records are read from local folders only
        metric = self._metric_name or "val_accuracy"
        try:
            epochs = {int(e["epoch"]): float(e.get(metric, math.nan))
                      for e in read_epochs(Path(path))}
        except (OSError, ValueError) as err:
            log.warning("trial %s: its rungs are not restored (%s)", trial.trial_id, err)
            return view
        scores = tuple(epochs.get(e, math.nan) for e in range(1, max(epochs, default=0) + 1))
        return TrialView(view.id, view.number, view.state, max(view.epochs, len(scores)),
                         scores, view.costs, view.kept)

    def _is_kept(self, trial: Trial) -> bool:
        return any(all(trial.config.get(k) == v for k, v in point.items())
                   for point in self._kept)

    def _link(self, tune_controller: Any) -> None:
        """Hand the searcher Ray is using this scheduler's :meth:`admits`."""
        searcher = getattr(tune_controller, "search_alg", None)
        for _ in range(4):  # Ray's SearchGenerator, a ConcurrencyLimiter, the searcher
            if searcher is None or hasattr(searcher, "admission"):
                break
            searcher = getattr(searcher, "searcher", None)
        if searcher is not None and hasattr(searcher, "admission"):
            searcher.admission = self.admits

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the scheduler into tuner.pkl: the policy and settings, not Ray's trials.
        return {k: v for k, v in self.__dict__.items() if k not in ("_trials", "_views")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._trials, self._views = {}, {}


def _finished(tune_controller: Any) -> bool:
    """Whether Ray's search generator will give no new configuration."""
    return bool(tune_controller.search_alg.is_finished())

