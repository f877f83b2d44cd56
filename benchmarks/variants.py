"""The mnist-hpo systems of ``search_quality.py``: the product as a user runs it, with
flags, and its former defaults, which the product has no setting for.

A former default differs from today's product in how its sampler or its scheduler is
built: the end of an epoch budget not planned, a sampler blind to the trials waiting at a
rung, or TPE's start-up trials. The benchmark builds those itself (:func:`built_as`): for
the length of one search, the product's factories (``make_sampling``, ``make_scheduler``)
are replaced by ones that build the product's objects and then change what the variant
changes; ``search.json`` describes the sampler so built. Nothing of this is in
``SearchSettings``, so ``mnist-hpo extend`` and ``resume`` never meet it.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import optuna

from mnist_hpo.search.policy import Policy
from mnist_hpo.search.tune import factories, manifest
from mnist_hpo.search.tune.evidence import SeesUnfinished
from mnist_hpo.search.tune.prior import PRIOR_OPTIONS, PriorSampler
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import resolve_config


@dataclass(frozen=True)
class Variant:
    """One mnist-hpo system of the benchmark.

    Attributes:
        flags: ``SearchSettings`` fields, as ``mnist-hpo search``'s flags set them.
        plan_end: Whether promotion-type ASHA is told the epoch budget to plan the end.
        sees_unfinished: Whether the sampler sees trials waiting at a rung as pruned at
            their last epoch (``search/tune/evidence.py``).
        tpe_startup: TPE's start-up trials (``None``: the product's, 5 with the warm
            start, 10 without).
    """

    flags: dict[str, Any] = field(default_factory=dict)
    plan_end: bool = True
    sees_unfinished: bool = True
    tpe_startup: int | None = None

    @property
    def is_product(self) -> bool:
        """Built as the product builds it from the flags (nothing for :func:`built_as`)."""
        return self.plan_end and self.sees_unfinished and self.tpe_startup is None


VARIANTS: dict[str, Variant] = {
    "mnist-hpo": Variant({"warm_start": True}),
    "mnist-hpo-cold": Variant(),
    "ray-optuna-asha": Variant({"honest_early_stopping": False}),
    "mnist-hpo-asha": Variant({"warm_start": True, "scheduler": "asha",
                               "reduction_factor": 2.0}),
    "mnist-hpo-cold-asha": Variant({"scheduler": "asha", "reduction_factor": 2.0}),
    "mnist-hpo-unplanned": Variant({"warm_start": True}, plan_end=False),
    "mnist-hpo-cold-unplanned": Variant(plan_end=False),
    "mnist-hpo-blind": Variant({"warm_start": True}, sees_unfinished=False),
    "mnist-hpo-cold-blind": Variant(sees_unfinished=False),
    "mnist-hpo-cold-startup5": Variant(tpe_startup=5),
}


def variant_settings(system: str, /, **fields: Any) -> SearchSettings:
    """The search of ``system``: ``fields`` (space, name, budget, data...), then the
    variant's flags; no warm start unless the variant asks for it."""
    return SearchSettings(**({"warm_start": False} | fields | VARIANTS[system].flags))


#: The product's own factories, as this module found them (built_as replaces them for the
#: length of a search; the variants build on these).
_SAMPLING, _SCHEDULER = factories.make_sampling, factories.make_scheduler
_DESCRIBED = factories.sampler_settings


def make_sampling(variant: Variant, settings: SearchSettings) -> factories.Sampling:
    """The product's sampler (``factories.make_sampling``), built with the variant's
    start-up trials and without the view of waiting trials if the variant is blind."""
    if variant.is_product or not settings.honest_early_stopping or settings.sampler != "tpe":
        return _SAMPLING(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group
        base: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
            seed=settings.seed, **tpe_options(variant, settings))
    prior = None
    if factories.uses_prior(settings):
        base = prior = PriorSampler(base, resolve_config({}), seed=settings.seed + 1,
                                    **PRIOR_OPTIONS)
    return factories.Sampling(SeesUnfinished(base) if variant.sees_unfinished else base,
                              prior)


def tpe_options(variant: Variant, settings: SearchSettings) -> dict[str, Any]:
    """The product's TPE options, with the variant's start-up trials."""
    options = factories.tpe_options(settings)
    if variant.tpe_startup is not None:
        options["n_startup_trials"] = variant.tpe_startup
    return options


def sampler_settings(variant: Variant, settings: SearchSettings) -> dict[str, Any]:
    """What ``search.json`` says of the sampler :func:`make_sampling` builds."""
    described = _DESCRIBED(settings)
    if variant.is_product or not settings.honest_early_stopping or settings.sampler != "tpe":
        return described
    if not variant.sees_unfinished:
        described.pop("unfinished_trials_seen_as", None)
    return described | {"n_startup_trials": tpe_options(variant, settings)["n_startup_trials"]}


def make_scheduler(variant: Variant, settings: SearchSettings, records: bool = True
                   ) -> PolicyScheduler:
    """The product's scheduler, its policy told not to plan the end if the variant says so."""
    scheduler = _SCHEDULER(settings, records=records)
    if not variant.plan_end:
        scheduler.policy = Policy(dataclasses.replace(scheduler.policy.settings,
                                                      plan_end=False))
    return scheduler


@contextmanager
def built_as(name: str) -> Iterator[None]:
    """While inside, the product's factories build system ``name``'s sampler, scheduler
    and ``search.json`` (the product's own when the variant changes nothing)."""
    variant = VARIANTS[name]
    with mock.patch.object(factories, "make_sampling",
                           functools.partial(make_sampling, variant)), \
            mock.patch.object(factories, "make_scheduler",
                              functools.partial(make_scheduler, variant)), \
            mock.patch.object(manifest, "sampler_settings",
                              functools.partial(sampler_settings, variant)):
        yield
