"""Ray's OptunaSearch, telling Optuna the truth about trials that ASHA stopped early.

Ray's ``OptunaSearch`` tells Optuna that every trial COMPLETED with its last reported score,
so a trial ASHA stopped after one epoch enters the study as if its one-epoch accuracy were a
final result, and TPE learns that short training is what good configurations look like.
Here such a trial is told as PRUNED, with its per-epoch values as intermediate values
(reported each epoch): Optuna's TPE ranks pruned trials by how far they got and how well
they did there, below every completed trial, which is what they are. A completed trial is
told its best epoch's score, the epoch whose model is kept.

What has been told per trial lives in the Optuna study's storage, not in this object: the
journal is written as each epoch is reported, so a search resumed after its driver was
killed finds every epoch told before the kill, whenever Ray last saved its searcher.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

log = logging.getLogger(__name__)


class HonestOptunaSearch(OptunaSearch):
    """``OptunaSearch`` that tells early-stopped trials as PRUNED.

    Args:
        max_epochs: Epochs of a trial that runs to the end; fewer means stopped early.
        *args, **kwargs: As for ``ray.tune.search.optuna.OptunaSearch``.
    """

    def __init__(self, *args: Any, max_epochs: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_epochs = max_epochs

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        study = self._ot_study
        if (error or ot_trial is None or study is None or trial_id in self._completed_trials
                or not result):
            super().on_trial_complete(trial_id, result=result, error=error)
            return
        values = dict(told_values(study, ot_trial.number))
        epochs = int(result.get("training_iteration", self._max_epochs))
        last = result.get(str(self._metric))
        if last is not None and epochs not in values:
            # Ray usually hands a trial's final result to this method only, not to
            # on_trial_result too (then it was reported already, and Optuna would warn).
            ot_trial.report(float(last), epochs)
            values[epochs] = float(last)
        if epochs < self._max_epochs:
            study.tell(ot_trial, state=TrialState.PRUNED)
        elif not values:
            study.tell(ot_trial, state=TrialState.FAIL)  # ran to the end, scored nothing
        else:
            study.tell(ot_trial, max(values.values()), state=TrialState.COMPLETE)
        self._completed_trials.add(trial_id)


def open_journal(path: Path) -> JournalStorage:
    """Optuna's journal file storage at ``path`` (created on first write): safe with several
    writers, and what ``optuna-dashboard PATH`` opens."""
    return JournalStorage(JournalFileBackend(str(path)))


def told_values(study: optuna.Study, number: int) -> dict[int, float]:
    """The per-epoch values trial ``number`` of ``study`` has been told so far."""
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return {int(step): float(v) for step, v in trial.intermediate_values.items()}
    return {}


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
            state = TrialState.PRUNED if trial.intermediate_values else TrialState.FAIL
            study.tell(trial.number, state=state)
            told += 1
    return told
