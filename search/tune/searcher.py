"""The searcher: Ray Tune asks it for configurations, Optuna samples them, and every trial
is told to Optuna as what it was.

Built on Ray's public ``Searcher`` interface and Optuna's public ask/tell and storage API.
Ray's own ``OptunaSearch`` tells Optuna that every trial COMPLETED with its last reported
score, so a trial ASHA stopped after one epoch enters the study as if its one-epoch accuracy
were a final result, and TPE learns that short training is what good configurations look
like. Here such a trial is told as PRUNED, with its per-epoch values as intermediate values
(reported each epoch): Optuna's TPE ranks pruned trials by how far they got and how well they
did there, below every completed trial, which is what they are. A completed trial is told its
best epoch's score, the epoch whose model is kept.

Everything told lives in the study's storage (the journal file), written as each epoch is
reported, and each Optuna trial carries its Ray trial id as a user attribute. So a search
resumed after its driver was killed finds every epoch told before the kill, whenever Ray last
saved the searcher, and can tell a trial it never saw suggested.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, InMemoryStorage
from optuna.trial import TrialState
from ray.tune.search import Searcher

from mnist_hpo.search.experiment.names import COST_KEYS
from mnist_hpo.search.tune.journal import open_journal
from mnist_hpo.search.tune.objective import COST_ATTR, constraint_values
from mnist_hpo.search.tune.prior import PriorSampler

RAY_TRIAL_ID = "ray_trial_id"  # the user attribute naming a trial's Ray trial id
DRAWN_FROM = "drawn_from"  # the user attribute: "warm start", "prior" or "sampler"
#: A two-objective study's per-epoch values: Optuna 5's multi-objective TPE fails on pruned
#: trials that have intermediate values (``_get_pruned_trial_score`` reads the study's one
#: direction), so there they are kept in this user attribute instead.
EPOCH_VALUES = "val_accuracy_by_epoch"


class OptunaSearcher(Searcher):
    """Suggests configurations from an Optuna study; tells it every trial as it ended.

    Args:
        space: Define-by-run space: takes an ``optuna.Trial``, returns a configuration.
        sampler: Optuna's sampler (seeded by the caller).
        study_name: The study in ``storage`` (created, or continued if it exists).
        max_epochs: Epochs of a trial that runs to the end; fewer means stopped early.
        metric, mode: What Ray reports and which way is better.
        storage: Where the study lives; in memory when ``None``.
        points_to_evaluate: Configurations (of searched parameters) to try first.
        cost_key: A second objective to minimise (``params``, ``latency_ms_batch_1``): a
            completed trial is told ``[best val_accuracy, cost]``; a stopped one PRUNED,
            without intermediate values (see :data:`EPOCH_VALUES`).
        limits: Cost key → largest allowed value: set on each trial as Optuna constraints
            once its cost is known (TPE then counts a trial over a limit as infeasible).
        prior: The :class:`PriorSampler` inside ``sampler``, if there is one: each trial
            records whether the prior drew it (``drawn_from``).
    """

    def __init__(self, space: Callable[[optuna.Trial], dict[str, Any]], *,
                 sampler: optuna.samplers.BaseSampler, study_name: str, max_epochs: int,
                 metric: str, mode: str, storage: BaseStorage | None = None,
                 points_to_evaluate: Sequence[dict[str, Any]] = (),
                 cost_key: str | None = None, limits: dict[str, float] | None = None,
                 prior: PriorSampler | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self._cost_key = cost_key
        self._limits = dict(limits or {})
        # Optuna trial number -> the live trial asked in this process (constraints are set
        # through it; a trial asked before a restore has none and counts as feasible).
        self._live: dict[int, optuna.Trial] = {}
        self._space = space
        self._sampler = sampler
        self._prior = prior
        self._storage = storage if storage is not None else InMemoryStorage()
        self._study_name = study_name
        self._max_epochs = max_epochs
        self._trials: dict[str, int] = {}  # Ray trial id -> Optuna trial number
        #: Asked before each suggestion: ``False`` holds new configurations back. Set by
        #: the scheduler at each of its calls (``PolicyScheduler.admits``: the policy's
        #: ``--max-concurrent`` and planned end); never pickled.
        self.admission: Callable[[], bool] | None = None
        self._study = self._open_study()
        self._points = len(points_to_evaluate)  # still to be asked
        for point in points_to_evaluate:
            self._study.enqueue_trial(point)  # asked first, before the sampler's own

    @property
    def study(self) -> optuna.Study:
        """The Optuna study this searcher samples from and tells."""
        return self._study

    def set_search_properties(self, metric: str | None, mode: str | None,
                              config: dict[str, Any], **spec: Any) -> bool:
        # The space is ours (define-by-run); metric and mode were set at construction.
        return not config

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.admission is not None and not self.admission():
            return None  # not now: Ray asks again later
        trial = self._study.ask()
        trial.set_user_attr(RAY_TRIAL_ID, trial_id)
        self._trials[trial_id] = trial.number
        if self._limits:
            self._live[trial.number] = trial
        config = self._space(trial)
        if self._points:  # Optuna asks enqueued points first, in order
            self._points -= 1
            trial.set_user_attr(DRAWN_FROM, "warm start")
        elif self._prior is not None:
            drawn = self._prior.drew_from_prior(trial.number)
            trial.set_user_attr(DRAWN_FROM, "prior" if drawn else "sampler")
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        value, epoch = result.get(self.metric), result.get("training_iteration")
        number = self._number(trial_id)
        told = None if number is None else self._told(number)
        if value is None or epoch is None or told is None:
            return
        if COST_ATTR not in told.user_attrs and any(k in result for k in COST_KEYS):
            cost = {k: float(result[k]) for k in COST_KEYS if k in result}
            self._set_attr(told.number, COST_ATTR, cost)  # for objectives and reports
            live = self._live.pop(told.number, None)
            for key, value in constraint_values(cost, self._limits).items():
                if live is not None:
                    live.set_constraint(key, value)
        if epoch_values(told).get(int(epoch)) != float(value):
            # A trial retried from a checkpoint reports the epochs after it again: the later
            # report is the model it went on from, as the trial's records keep it.
            self._report(told, int(epoch), float(value))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        number = self._number(trial_id)
        told = None if number is None else self._told(number)
        if told is None or told.state is not TrialState.RUNNING:
            return
        number = told.number
        self._trials.pop(trial_id, None)
        if error:
            self._study.tell(number, state=TrialState.FAIL)
            return
        values = epoch_values(told)
        epochs = int((result or {}).get("training_iteration") or max(values, default=0))
        last = (result or {}).get(self.metric)
        if last is not None and values.get(epochs) != float(last):
            # Ray usually hands a trial's final result to this method only.
            self._report(told, epochs, float(last))
            values[epochs] = float(last)
        cost = (told.user_attrs.get(COST_ATTR) or {}).get(self._cost_key or "")
        best = max(values.values(), default=0.0) if self.mode == "max" else \
            min(values.values(), default=0.0)
        if not values:
            self._study.tell(number, state=TrialState.FAIL)
        elif epochs < self._max_epochs:
            self._study.tell(number, state=TrialState.PRUNED)
        elif self._cost_key is None:
            self._study.tell(number, best)
        elif cost is None:  # a two-objective trial without its cost: nothing to tell
            self._study.tell(number, state=TrialState.FAIL)
        else:
            self._study.tell(number, [best, float(cost)])

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    def get_state(self) -> dict[str, Any]:
        # The study is in its storage; the sampler carries its random state. The prior is
        # pickled with it, in one pickle, so it stays the one inside the sampler.
        return {"trials": dict(self._trials), "sampler": self._sampler, "prior": self._prior,
                "points": self._points}

    def set_state(self, state: dict[str, Any]) -> None:
        self._trials = dict(state["trials"])
        self._sampler, self._prior = state["sampler"], state["prior"]
        self._points = state["points"]
        self._study = self._open_study()

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the searcher into tuner.pkl: the study reopens from its storage. The
        # admission is the scheduler's to give again (search/tune/scheduler.py).
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_study", "_live", "admission")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._live = {}
        self.admission = None
        self._study = self._open_study()

    def _open_study(self) -> optuna.Study:
        direction = (optuna.study.StudyDirection.MAXIMIZE if self.mode == "max"
                     else optuna.study.StudyDirection.MINIMIZE)
        directions = [direction]
        if self._cost_key:
            directions.append(optuna.study.StudyDirection.MINIMIZE)
        return optuna.create_study(study_name=self._study_name, storage=self._storage,
                                   sampler=self._sampler, directions=directions,
                                   load_if_exists=True)

    def _number(self, trial_id: str) -> int | None:
        """The Optuna trial of Ray trial ``trial_id``: from memory, else from the storage
        (a trial suggested after Ray last saved this searcher)."""
        if trial_id in self._trials:
            return self._trials[trial_id]
        for trial in self._study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.user_attrs.get(RAY_TRIAL_ID) == trial_id:
                self._trials[trial_id] = trial.number
                return trial.number
        return None

    def _report(self, told: optuna.trial.FrozenTrial, epoch: int, value: float) -> None:
        # Storage calls, not a live optuna.Trial: they work the same after a restore.
        if self._cost_key:
            values = {str(k): v for k, v in epoch_values(told).items()} | {str(epoch): value}
            self._set_attr(told.number, EPOCH_VALUES, values)
            return
        self._storage.set_trial_intermediate_value(self._trial_id(told.number), epoch, value)

    def _set_attr(self, number: int, key: str, value: Any) -> None:
        self._storage.set_trial_user_attr(self._trial_id(number), key, value)

    def _trial_id(self, number: int) -> int:
        study_id = self._storage.get_study_id_from_name(self._study_name)
        return self._storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def _told(self, number: int) -> optuna.trial.FrozenTrial | None:
        """Trial ``number`` as told so far (its state, its per-epoch values): one storage
        lookup, not a walk of every trial (a search of 10,000 trials reports ~20,000
        epochs)."""
        try:
            return self._storage.get_trial(self._trial_id(number))
        except KeyError:
            return None


def epoch_values(trial: optuna.trial.FrozenTrial) -> dict[int, float]:
    """The per-epoch val_accuracy told for ``trial``: its intermediate values, or in a
    two-objective study the :data:`EPOCH_VALUES` user attribute."""
    if trial.intermediate_values:
        return {int(k): float(v) for k, v in trial.intermediate_values.items()}
    return {int(k): float(v) for k, v in (trial.user_attrs.get(EPOCH_VALUES) or {}).items()}


def close_unfinished_trials(journal: Path) -> int:
    """Tell every trial still RUNNING in the journal's studies as what it is now that its
    search has ended for good: PRUNED with the values it reported (Optuna keeps the last
    as its value), FAIL if it reported none. Ray does not tell the searcher about trials it
    stops when a time or epoch budget runs out; without this they stay RUNNING forever.

    Returns:
        How many trials were told.
    """
    if not journal.exists():
        return 0
    storage = open_journal(journal)
    told = 0
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            state = TrialState.PRUNED if epoch_values(trial) else TrialState.FAIL
            study.tell(trial.number, state=state)
            told += 1
    return told
