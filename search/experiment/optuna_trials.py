"""Trial records → Optuna trials, told as they ended: the one place that decides how.

Used wherever a study is rebuilt from an experiment folder: the report's importance figure
and ``mnist-hpo extend`` (which warm-starts its sampler from the earlier trials). The rule is
the searcher's own (``search/tune/searcher.py``): a trial that ran every epoch is COMPLETE
with its best epoch's score; one stopped early (by the scheduler, or cut by the budget) is
PRUNED with its per-epoch scores as intermediate values (never COMPLETE with a short run's
score, which would teach the sampler that short training is what good configurations look
like); one that errored, or never reported, is FAIL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna

from mnist_hpo.search.experiment.records import TrialRecord, TrialState


def to_optuna_trial(record: TrialRecord, distributions: Mapping[str, Any]
                    ) -> optuna.trial.FrozenTrial:
    """The Optuna trial ``record`` ended as, over the parameters in ``distributions``
    (those the record holds: a 2-block network has no ``filters_3``).

    Raises:
        ValueError: the trial has not ended (running, or waiting for a resume).
    """
    if not record.ended:
        raise ValueError(f"trial {record.number} is {record.state.value}: it has not ended")
    params = {k: record.params[k] for k in distributions if k in record.params}
    used = {k: distributions[k] for k in params}
    values = {int(e["epoch"]): e["val_accuracy"] for e in record.epochs}
    if record.state is TrialState.COMPLETED and record.best_val_accuracy is not None:
        return optuna.trial.create_trial(params=params, distributions=used,
                                         value=record.best_val_accuracy,
                                         intermediate_values=values)
    if record.state in (TrialState.STOPPED, TrialState.CUT) and values:
        # Optuna keeps a pruned trial's last intermediate value as its value.
        return optuna.trial.create_trial(params=params, distributions=used,
                                         value=values[max(values)], intermediate_values=values,
                                         state=optuna.trial.TrialState.PRUNED)
    return optuna.trial.create_trial(params=params, distributions=used,
                                     state=optuna.trial.TrialState.FAIL)
