"""Ray's ASHA, except that the search's warm start (the seed network) is never stopped early.

Why: ASHA judges at the first rung, and with η = 2 and two trials at a rung the lower one
stops. The tutorial's network (batch 32, dropout 0.25/0.5, augmentation) learns slowly in
its first epoch and well after it: in the search-quality benchmark's seed 3 (10,000
images) it scored 0.967 after one epoch, the next trial scored more, and ASHA stopped the
seed network there; trained alone it ends at 0.9886. In 3 of that benchmark's 5 seeds the
search's best validation accuracy ended below the seed network trained alone, the bar a
search exists to clear. Keeping the seed trial costs at most ``max_t - grace_period``
trial-epochs, once per search. Its results still go into the rungs, so it goes on judging
every other trial.
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from mnist_hpo.search.tune.compat import asha_limits, asha_uncount_stop


class SeedKeepingASHA(ASHAScheduler):
    """``ASHAScheduler`` whose trials with one of the ``kept`` configurations run to
    ``max_t`` (a configuration matches when the trial's config has each of its values).

    ``time_attr`` and ``max_t`` (Ray's defaults) and the other arguments go to Ray's
    ``ASHAScheduler``; this keeps its own copies of the first two, which Ray's keeps private.
    """

    def __init__(self, *, kept: list[dict[str, Any]], time_attr: str = "training_iteration",
                 max_t: int = 100, **asha: Any) -> None:
        super().__init__(time_attr=time_attr, max_t=max_t, **asha)
        self._kept = [dict(point) for point in kept]
        self.time_attr, self.max_t = time_attr, max_t

    def is_kept(self, trial: Trial) -> bool:
        return is_kept(trial, self._kept)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]
                        ) -> str:
        # Ray records the result in its rung first, then decides; only the decision is undone.
        action = super().on_trial_result(tune_controller, trial, result)
        if (action == TrialScheduler.STOP and self.is_kept(trial)
                and result.get(self.time_attr, 0) < self.max_t):
            asha_uncount_stop(self)  # its count of stopped trials, in debug_string
            return TrialScheduler.CONTINUE
        return action

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Ray pickles the scheduler (tuner.pkl); one pickled before this kept its own copies
        # (a search begun by an earlier version, resumed) has only Ray's.
        self.__dict__.update(state)
        if "max_t" not in state:
            self.time_attr, self.max_t = asha_limits(self)


def is_kept(trial: Trial, kept: list[dict[str, Any]]) -> bool:
    """Whether the trial's config has each value of one of the ``kept`` configurations."""
    return any(all(trial.config.get(k) == v for k, v in point.items()) for point in kept)
