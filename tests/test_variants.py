"""The search-quality benchmark's mnist-hpo systems, built without running them: each
variant's settings, sampler, scheduler and search.json description (no Ray runtime)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from benchmarks.quality_table import SYSTEMS
from benchmarks.variants import VARIANTS, built_as, variant_settings
from mnist_hpo.search.tune import factories, manifest
from mnist_hpo.search.tune.evidence import SeesUnfinished
from mnist_hpo.search.tune.factories import make_tune_config
from mnist_hpo.search.tune.prior import PriorSampler
from mnist_hpo.search.tune.scheduler import PolicyScheduler
from mnist_hpo.search.tune.searcher import OptunaSearcher
from mnist_hpo.spaces import load_space


def built(system: str, tmp_path: Path) -> tuple[optuna.samplers.BaseSampler, PolicyScheduler,
                                                dict[str, object], OptunaSearcher | None]:
    settings = variant_settings(system, space=load_space("default"), name=system,
                                epochs=9, epoch_budget=45, seed=0)
    with built_as(system):
        config = make_tune_config(settings, tmp_path)
        described = manifest.sampler_settings(settings)
    searcher = config.search_alg
    assert isinstance(config.scheduler, PolicyScheduler)
    if isinstance(searcher, OptunaSearcher):
        return searcher.study.sampler, config.scheduler, described, searcher
    return searcher._sampler, config.scheduler, described, None  # type: ignore[union-attr]


@pytest.mark.parametrize("system", sorted(VARIANTS))
def test_every_mnist_hpo_system_of_the_benchmark_builds(system: str, tmp_path: Path) -> None:
    assert system in SYSTEMS
    sampler, scheduler, described, searcher = built(system, tmp_path)
    variant = VARIANTS[system]
    # The end of the budget is planned unless the variant says otherwise.
    assert scheduler.policy.settings.planned is (
        variant.plan_end and scheduler.policy.settings.rule.value == "asha-promotion")
    if searcher is None:  # Ray's stock OptunaSearch over Optuna's default TPE
        assert system == "ray-optuna-asha"
        return
    assert isinstance(sampler, SeesUnfinished) is variant.sees_unfinished
    assert ("unfinished_trials_seen_as" in described) is variant.sees_unfinished
    tpe = sampler.base if isinstance(sampler, SeesUnfinished) else sampler
    warm = bool(variant.flags.get("warm_start"))
    # The searcher holds the prior it draws from, the one inside its sampler.
    assert (searcher._prior is tpe) if warm else searcher._prior is None
    if warm:
        assert isinstance(tpe, PriorSampler)
        tpe = tpe.base
    assert isinstance(tpe, optuna.samplers.TPESampler)
    startup = variant.tpe_startup or (5 if warm else 10)
    assert tpe._n_startup_trials == startup == described["n_startup_trials"]


def test_the_product_is_itself_again_after_a_variant(tmp_path: Path) -> None:
    product = (factories.make_sampling, factories.make_scheduler, manifest.sampler_settings)
    with built_as("mnist-hpo-cold-blind"):
        assert factories.make_sampling is not product[0]
    assert (factories.make_sampling, factories.make_scheduler,
            manifest.sampler_settings) == product
    sampler, scheduler, described, _ = built("mnist-hpo-cold", tmp_path)
    assert isinstance(sampler, SeesUnfinished) and scheduler.policy.settings.planned
    assert described == factories.sampler_settings(variant_settings(
        "mnist-hpo-cold", space=load_space("default"), name="x", epochs=9, epoch_budget=45))
