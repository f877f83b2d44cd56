"""What the sampler sees: every epoch reported so far, including those of unfinished trials.

The searcher tells Optuna how a trial ended only when it ends (:mod:`searcher`): COMPLETE
after its last epoch, PRUNED if it was stopped early. Under the promotion-type scheduler
most trials do not end for most of the search, they *wait* at the first rung (PAUSED in
Ray) until the finalists are chosen, so they are RUNNING in the study. Optuna's TPE models
COMPLETE and PRUNED trials only: with 29 configurations waiting at epoch 1 it had never
seen its 5 start-up trials, and every configuration of a cold search was a draw of its
internal RandomSampler — the random baseline's own draws, seed for seed
(docs/design/sampling.md, "What the records showed about the sampler").

:class:`SeesUnfinished` wraps a sampler so that a RUNNING trial that has reported epochs
looks to it like what is known of it: a trial pruned at its last reported epoch, with its
per-epoch values. TPE ranks such trials as it ranks pruned ones, by how far they got and
how well they did there, below every completed trial. The study itself is untouched (a
trial is recorded once, when it ends), so the records stay one Optuna trial per Ray trial;
only the sampler's view changes. A RUNNING trial with no epoch yet stays RUNNING, for
TPE's constant liar.

The view is bounded: past :data:`HISTORY` trials the sampler sees the most recent half of
them and the best of the rest (completed first, then by the epoch reached and the score
there, as TPE ranks them). TPE's ask reads every trial it is shown (about 15 ms at 250
trials, 49 ms at 1,000 on this machine), so a search of 10,000 trials would otherwise ask
ever slower while a thousand workers wait (benchmarks/simulated_search.py). A search of up
to :data:`HISTORY` trials is sampled exactly as before.
"""

from __future__ import annotations

import copy
import heapq
import math
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from mnist_hpo.search.tune.compat import SamplerStudyView
from mnist_hpo.search.tune.searcher import epoch_values


class SeesUnfinished(optuna.samplers.BaseSampler):
    """Gives ``base`` a view of the study in which every RUNNING trial with reported epochs
    is PRUNED at its last one.

    Args:
        base: The sampler that draws every trial (TPE, or the prior over TPE).
    """

    def __init__(self, base: optuna.samplers.BaseSampler) -> None:
        self._base = base
        # The view of the trial being asked: (its number, the view). Not pickled.
        self._views: tuple[int, SamplerStudyView] | None = None
        self._history = History()

    @property
    def base(self) -> optuna.samplers.BaseSampler:
        """The sampler that draws the trials."""
        return self._base

    def _view(self, study: optuna.Study, asked: FrozenTrial | None = None) -> optuna.Study:
        """The study as ``base`` sees it while ``asked`` is sampled: one view per ask, so
        the study's trials are mapped once per ask; a fresh one otherwise (a tell)."""
        if asked is None:
            return SamplerStudyView(study, self._history)  # type: ignore[return-value]
        if self._views is None or self._views[0] != asked.number or \
                self._views[1].study is not study:
            self._views = (asked.number, SamplerStudyView(study, self._history))
        return self._views[1]  # type: ignore[return-value]

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_views", "_history")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._views, self._history = None, History()

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._base.before_trial(self._view(study, trial), trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._base.infer_relative_search_space(self._view(study, trial), trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._base.sample_relative(self._view(study, trial), trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._base.sample_independent(self._view(study, trial), trial, param_name,
                                             param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._base.after_trial(self._view(study), trial, state, values)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()


#: The most trials the sampler is shown at one ask. TPE models its best trials (at most 25:
#: Optuna's default gamma) against the rest: the best 125 hold them five times over, and
#: the recent 125 the region it samples now. At 250 an ask keeps pace with a thousand
#: workers on 10,000-image epochs; at 1,000 it did not (docs/benchmarks.md, "At scale").
HISTORY = 250


#: New trials after which the best of the older ones are ranked again: ranking walks every
#: trial, so it is done once per this many asks, not at each.
REFRESH = HISTORY // 10


class History:
    """What the sampler is shown of a study's trials (in its order, numbered from 0): each
    as known (:func:`_as_known`), at most :data:`HISTORY` of them, in the study's order:
    the most recent half, and the best of the older ones by :func:`_evidence`, ranked again
    once :data:`REFRESH` trials have come since (they move up as they report more epochs;
    in between, the recent half shows every new trial)."""

    def __init__(self) -> None:
        self._best: list[int] = []  # trial numbers, ascending
        self._ranked_at = -REFRESH  # how many trials there were at the last ranking

    def __call__(self, trials: list[FrozenTrial]) -> list[FrozenTrial]:
        if len(trials) <= HISTORY:
            return [_as_known(t) for t in trials]
        recent = len(trials) - HISTORY // 2
        if len(trials) - self._ranked_at >= REFRESH:
            best = heapq.nlargest(HISTORY - HISTORY // 2, trials[:recent], key=_evidence)
            self._best = sorted(t.number for t in best)
            self._ranked_at = len(trials)
        return [_as_known(t) for t in (*(trials[n] for n in self._best), *trials[recent:])]


def known(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """What the sampler is shown of ``trials`` with the best of the older ones ranked now
    (:class:`History`)."""
    return History()(trials)


def _evidence(trial: FrozenTrial) -> tuple[int, int, float]:
    """How much ``trial`` tells the sampler, as TPE ranks trials (val_accuracy, higher is
    better): completed ones first, by their score; then those with epochs (pruned, or
    waiting: seen as pruned) by the last epoch reached, then the score there; then the
    rest (failed, or no epoch yet)."""
    if trial.state is TrialState.COMPLETE and trial.values:
        return 2, 0, trial.values[0]
    if trial.state not in (TrialState.PRUNED, TrialState.RUNNING):
        return 0, 0, -math.inf
    values = trial.intermediate_values or epoch_values(trial)  # read for every trial
    if values:
        last = int(max(values))
        score = float(values[last])
        return 1, last, score if not math.isnan(score) else -math.inf
    return 0, 0, -math.inf


def _as_known(trial: FrozenTrial) -> FrozenTrial:
    """What is known of ``trial``: PRUNED at its last epoch if it is RUNNING with epochs
    reported, else the trial itself."""
    # epoch_values: a two-objective study keeps them in a user attribute instead.
    if trial.state is not TrialState.RUNNING or not epoch_values(trial):
        return trial
    pruned = copy.copy(trial)
    pruned.state = TrialState.PRUNED
    return pruned
