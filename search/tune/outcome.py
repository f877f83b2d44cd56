"""How a search ended, told from its experiment folder: the status, the trials counted as the
leaderboard states them, the best trial; written into ``search.json``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mnist_hpo.search.experiment import SearchStatus, TrialRecord, TrialState, load_experiment
from mnist_hpo.search.experiment.names import JOURNAL, MANIFEST
from mnist_hpo.search.experiment.plan_file import plan_summary, read_plan
from mnist_hpo.search.tune.clock import time_budget_state
from mnist_hpo.search.tune.manifest import finish_manifest
from mnist_hpo.search.tune.settings import METRIC, SearchSettings


@dataclass(frozen=True)
class SearchOutcome:
    """What the user is told at the end."""

    experiment: str
    status: SearchStatus
    planned: int
    #: Trials by state, as the leaderboard states them (:func:`mnist_hpo.search.experiment.tally`).
    tally: dict[TrialState, int]
    best_trial: int | None
    best_score: float | None
    best_config: dict[str, Any] | None
    best_checkpoint: str | None
    failed: list[tuple[int, str]] = field(default_factory=list)

    @property
    def trials(self) -> int:
        """Trials that ended: completed, stopped early, cut by the budget or errored."""
        return sum(n for state, n in self.tally.items() if state not in _UNENDED)

    @property
    def errored(self) -> int:
        return self.tally.get(TrialState.ERRORED, 0)

    @property
    def in_progress(self) -> int:
        """Trials an interruption left to resume (training, or paused at a rung)."""
        return sum(self.tally.get(state, 0) for state in _UNENDED)


_UNENDED = (TrialState.RUNNING, TrialState.INTERRUPTED)


def conclude(experiment: Path, settings: SearchSettings, manifest: dict[str, Any]
             ) -> SearchOutcome:
    """How the search ended and its best trial, from the experiment folder through the
    records the leaderboard reads; written into the manifest."""
    records = load_experiment(experiment)  # the manifest still says running
    status = _ending(records.trials, settings, experiment)
    if status.concluded:
        from mnist_hpo.search.tune.searcher import close_unfinished_trials

        close_unfinished_trials(experiment / JOURNAL)
    best = records.best() if records.finished else None
    failed = [(t.number, t.error or "") for t in records.trials
              if t.state is TrialState.ERRORED]
    outcome = SearchOutcome(
        str(experiment), status, settings.trials, {}, best.number if best else None,
        best.best_val_accuracy if best else None, best.params if best else None,
        str(best.checkpoint) if best and best.checkpoint else None, failed)
    plan = read_plan(experiment)
    finish_manifest(experiment / MANIFEST, manifest, status=status.value,
                    best_trial=outcome.best_trial, best_val_accuracy=outcome.best_score,
                    best_config=outcome.best_config, best_checkpoint=outcome.best_checkpoint,
                    **({"plan": plan_summary(plan)} if plan else {}))
    # Read again under the status just written: the trials in flight now read as the
    # leaderboard shows them (cut by the budget, interrupted), and the counts are its own.
    tally = load_experiment(experiment).tally()
    finish_manifest(experiment / MANIFEST, manifest,
                    trials={state.value: n for state, n in tally.items()},
                    trials_run=sum(n for state, n in tally.items() if state not in _UNENDED),
                    trials_errored=tally[TrialState.ERRORED])
    return replace(outcome, tally=tally)


def _ending(trials: list[TrialRecord], settings: SearchSettings, experiment: Path
            ) -> SearchStatus:
    """Why the search ended, from its trials as they stand and its budgets."""
    done = [t for t in trials if t.state is not TrialState.RUNNING]
    failed = [t for t in trials if t.state is TrialState.ERRORED]
    if len(done) >= settings.trials:
        return SearchStatus.FINISHED
    if settings.max_failed_trials and len(failed) >= settings.max_failed_trials:
        return SearchStatus.FAILURE_BUDGET
    if settings.epoch_budget and sum(t.epochs_run for t in trials) >= settings.epoch_budget:
        return SearchStatus.EPOCH_BUDGET
    if settings.time_budget_s and _time_budget_reached(experiment):
        return SearchStatus.TIME_BUDGET
    return SearchStatus.INTERRUPTED


def _time_budget_reached(experiment: Path) -> bool:
    """Whether the time budget, which a resumed search carries on, ended the search:
    :class:`TimeBudget` writes it down at Ray's first check and whenever it runs out."""
    state = time_budget_state(experiment)
    return bool(state and state.get("reached"))


def from_grid(grid: Any, where: str, settings: SearchSettings) -> SearchOutcome:
    """For an experiment in remote storage (a bucket URI): Ray's own summary. A trial that
    reported every epoch completed; one that did not, and did not fail, stopped early."""
    from mnist_hpo.search.tune.settings import MODE

    tally = dict.fromkeys(TrialState, 0)
    for result in grid:
        epochs = int((result.metrics or {}).get("training_iteration", 0))
        state = TrialState.ERRORED if result.error else (
            TrialState.COMPLETED if epochs >= settings.epochs else TrialState.STOPPED)
        tally[state] += 1
    try:
        best = grid.get_best_result(metric=METRIC, mode=MODE, scope="all")
    except RuntimeError:
        return SearchOutcome(where, SearchStatus.FINISHED, settings.trials, tally, None, None,
                             None, None)
    scores = best.metrics_dataframe[METRIC] if best.metrics_dataframe is not None else None
    checkpoint = best_checkpoint(best.best_checkpoints)
    return SearchOutcome(where, SearchStatus.FINISHED, settings.trials, tally,
                         int(best.path.rstrip("/").rsplit("trial_", 1)[-1]),
                         float(scores.max()) if scores is not None else None,
                         dict(best.config), checkpoint.path if checkpoint else None)


def best_checkpoint(checkpoints: list[tuple[Any, dict[str, Any]]]) -> Any | None:
    """The best-scored of a trial's ``(checkpoint, metrics)`` (Ray lists them in the order
    they were taken), the newest of equally scored ones: the one
    :class:`~mnist_hpo.search.tune.checkpoints.CheckpointPruner` keeps (Ray's
    ``Result.get_best_checkpoint`` returns the oldest of a tie, which may be deleted)."""
    best, score = None, -math.inf
    for checkpoint, metrics in checkpoints:
        value = metrics.get(METRIC)
        if value is not None and not math.isnan(value) and value >= score:
            best, score = checkpoint, value
    return best
