"""The tutorial's network as a prior: trials drawn near it early, TPE's own draws later.

A search here runs 10-60 trials. TPE starts with random trials (its ``n_startup_trials``)
and only then models what worked, so in a short search most trials are random draws from a
space in which the tutorial's network is already among the best. Prior-guided methods use
such a known-good point as a distribution to sample from, trusted less as evidence comes in:
πBO (Hvarfner et al., ICLR 2022) weights the acquisition by ``prior(x) ** (β / n)``;
PriorBand (Mallik et al., NeurIPS 2023) mixes draws from the prior, around the incumbent and
at random. :class:`PriorSampler` does the simplest of these on top of any Optuna sampler:
trial ``n`` is drawn from the prior with probability ``β / (β + n)`` (``n``: trials finished,
pruned included) and from the wrapped sampler otherwise; the wrapped sampler (TPE) sees
every trial, whichever drew it, so the prior's trials are its start-up evidence.

The prior, per parameter, in the parameter's own scale (log where the space samples log):
a normal around the seed network's value with ``spread`` of the range as standard deviation,
truncated to the range, for numbers; the seed network's choice with probability ``keep``
(otherwise any choice, uniformly) for categories. A parameter the seed network does not
have (``filters_3``, ``momentum``) or whose value the space excludes is drawn uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

#: How the prior is trusted: β = 8 draws half the trials from it once 8 trials have
#: finished, a fifth after 32. ``spread``: standard deviation as a fraction of a numeric
#: range (PriorBand's "medium" confidence is 0.25); ``keep``: the seed's category's share.
PRIOR_OPTIONS: dict[str, float] = {"beta": 8.0, "spread": 0.2, "keep": 0.6}

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class PriorSampler(optuna.samplers.BaseSampler):
    """Draws a trial near ``center`` with probability ``beta / (beta + n)``, else asks
    ``base``; ``n`` counts the study's finished (complete or pruned) trials.

    Args:
        base: The sampler that draws the other trials and is told of all of them.
        center: The prior's mode: configuration key → value (the seed network).
        beta: Weight of the prior, in trials' worth of evidence.
        spread: Standard deviation of a numeric parameter's prior, as a fraction of its
            range (in log space for log-scaled parameters).
        keep: Probability of the center's value for a categorical parameter.
        seed: Seeds the choice between prior and ``base``, and the prior's draws.
    """

    def __init__(self, base: optuna.samplers.BaseSampler, center: Mapping[str, Any], *,
                 beta: float = PRIOR_OPTIONS["beta"], spread: float = PRIOR_OPTIONS["spread"],
                 keep: float = PRIOR_OPTIONS["keep"], seed: int | None = None) -> None:
        if beta <= 0 or spread <= 0 or not 0 <= keep <= 1:
            raise ValueError(f"prior: beta {beta} and spread {spread} must be more than 0, "
                             f"keep {keep} between 0 and 1")
        self._base = base
        self._center = dict(center)
        self._beta, self._spread, self._keep = beta, spread, keep
        self._rng = np.random.RandomState(seed)
        self._from_prior: dict[int, bool] = {}  # trial number → drawn from the prior

    @property
    def base(self) -> optuna.samplers.BaseSampler:
        """The sampler that draws the trials the prior does not."""
        return self._base

    def prior_probability(self, finished: int) -> float:
        """Probability that the next trial is drawn from the prior, ``finished`` trials in."""
        return self._beta / (self._beta + finished)

    def drew_from_prior(self, number: int) -> bool | None:
        """Whether trial ``number`` was drawn from the prior (``None``: not drawn here)."""
        return self._from_prior.get(number)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._base.before_trial(study, trial)
        finished = len(study.get_trials(deepcopy=False, states=_FINISHED))
        self._from_prior[trial.number] = bool(
            self._rng.uniform() < self.prior_probability(finished))

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        if self._from_prior.get(trial.number):
            return {}  # every parameter comes through sample_independent, from the prior
        return self._base.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if not search_space:
            return {}
        return self._base.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if self._from_prior.get(trial.number):
            return self._draw(param_name, param_distribution)
        return self._base.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._base.reseed_rng()
        self._rng.seed()

    def _draw(self, name: str, dist: BaseDistribution) -> Any:
        """One value of ``name`` from the prior."""
        center = self._center.get(name)
        if isinstance(dist, CategoricalDistribution):
            choices = list(dist.choices)
            if center in choices and self._rng.uniform() < self._keep:
                return center
            return choices[self._rng.randint(len(choices))]
        if not isinstance(dist, FloatDistribution | IntDistribution):
            raise TypeError(f"prior: {name} has an unsupported distribution {dist!r}")
        low, high = float(dist.low), float(dist.high)
        if high == low:
            return dist.low
        scale = math.log if dist.log else float
        lo, hi = scale(low), scale(high)
        if isinstance(center, bool) or not isinstance(center, int | float) \
                or not low <= center <= high:
            u = self._rng.uniform()  # no usable center: uniform in the parameter's scale
        else:
            mode = (scale(float(center)) - lo) / (hi - lo)
            u = self._truncated_normal(mode)
        value = math.exp(lo + u * (hi - lo)) if dist.log else lo + u * (hi - lo)
        return _snap(value, dist)

    def _truncated_normal(self, mode: float) -> float:
        """A draw from N(mode, spread) truncated to [0, 1] (rejection; mode lies inside)."""
        while True:
            u = self._rng.normal(mode, self._spread)
            if 0.0 <= u <= 1.0:
                return float(u)


def _snap(value: float, dist: FloatDistribution | IntDistribution) -> Any:
    """``value`` on the distribution's grid and inside its bounds."""
    if isinstance(dist, IntDistribution):
        steps = round((value - dist.low) / dist.step)
        return int(min(dist.high, max(dist.low, dist.low + steps * dist.step)))
    if dist.step is not None:
        steps = round((value - dist.low) / dist.step)
        value = dist.low + steps * dist.step
    return float(min(dist.high, max(dist.low, value)))
