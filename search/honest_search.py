"""Ray's OptunaSearch, telling Optuna the truth about trials that ASHA stopped early.

Ray's ``OptunaSearch`` tells Optuna that every trial COMPLETED with its last reported score,
so a trial ASHA stopped after one epoch enters the study as if its one-epoch accuracy were a
final result, and TPE learns that short training is what good configurations look like.
Here such a trial is told as PRUNED, with its per-epoch values as intermediate values
(reported each epoch): Optuna's TPE ranks pruned trials by how far they got and how well
they did there, below every completed trial, which is what they are. A completed trial is
told its best epoch's score, the epoch whose model is kept.
"""

from __future__ import annotations

import logging
from typing import Any

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
        self._best: dict[str, float] = {}
        self._reported: dict[str, int] = {}  # the last epoch told to Optuna, per trial

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        super().on_trial_result(trial_id, result)  # reports the epoch's value to Optuna
        self._reported[trial_id] = int(result.get("training_iteration", 0))
        value = result.get(str(self._metric))
        if value is not None:
            self._best[trial_id] = max(float(value), self._best.get(trial_id, float(value)))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        study = self._ot_study
        if (error or ot_trial is None or study is None or trial_id in self._completed_trials
                or not result):
            super().on_trial_complete(trial_id, result=result, error=error)
            return
        epochs = int(result.get("training_iteration", self._max_epochs))
        last = result.get(str(self._metric))
        if last is not None and epochs > self._reported.pop(trial_id, 0):
            # Ray usually hands a trial's final result to this method only, not to
            # on_trial_result too (then it was reported already, and Optuna would warn).
            ot_trial.report(float(last), epochs)
            self._best[trial_id] = max(float(last), self._best.get(trial_id, float(last)))
        best = self._best.pop(trial_id, None)
        if epochs < self._max_epochs:
            study.tell(ot_trial, state=TrialState.PRUNED)
        else:
            study.tell(ot_trial, best, state=TrialState.COMPLETE)
        self._completed_trials.add(trial_id)
