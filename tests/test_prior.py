"""The seed network as a prior: draws near it, trusted less as trials finish."""

from __future__ import annotations

import math
import pickle
import statistics

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from mnist_hpo.search.tune.factories import make_sampler, make_sampling, sampler_settings
from mnist_hpo.search.tune.prior import PriorSampler
from mnist_hpo.search.tune.searcher import DRAWN_FROM, OptunaSearcher
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space, resolve_config

SEED = resolve_config({})


def study_with(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction="maximize", sampler=sampler)


def always_prior(**kwargs: float) -> PriorSampler:
    # beta so large that every trial is drawn from the prior.
    return PriorSampler(optuna.samplers.RandomSampler(seed=0), SEED, beta=1e12, seed=0,
                        **kwargs)


def test_draws_concentrate_on_the_seed_network() -> None:
    space = load_space("default")
    prior, uniform = study_with(always_prior()), study_with(optuna.samplers.RandomSampler(0))
    near = [space.suggest(prior.ask()) for _ in range(300)]
    far = [space.suggest(uniform.ask()) for _ in range(300)]

    def spread(configs: list[dict[str, object]]) -> float:
        return statistics.median(abs(math.log(c["learning_rate"]) - math.log(1e-3))  # type: ignore[arg-type]
                                 for c in configs)

    # Median |Δ log lr|: a normal of σ = 0.2 of the log range has 0.674 σ; the uniform over
    # [1e-4, 1e-2] around 1e-3 has half its half-width, log(10) / 2.
    assert spread(near) == pytest.approx(0.674 * 0.2 * math.log(100), rel=0.15)
    assert spread(far) == pytest.approx(math.log(10) / 2, rel=0.15)
    # keep = 0.6 of the seed's optimizer, plus its share of the uniform rest (1/5 of 0.4).
    adam = sum(c["optimizer"] == "adam" for c in near) / len(near)
    assert 0.58 < adam < 0.78
    assert sum(c["optimizer"] == "adam" for c in far) / len(far) < 0.35
    assert all(space.contains(resolve_config(c)) for c in near)


def test_values_stay_in_range_and_on_the_grid() -> None:
    sampler = always_prior(spread=2.0)  # wide: many draws land on the edges
    study = study_with(sampler)
    for _ in range(200):
        trial = study.ask()
        assert 2 <= trial.suggest_int("blocks", 2, 6, step=2) <= 6
        assert trial.suggest_int("blocks", 2, 6, step=2) % 2 == 0
        x = trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
        assert 0.0 <= x <= 0.5 and abs(x * 10 - round(x * 10)) < 1e-9
        assert 1e-4 <= trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True) <= 1e-2


def test_a_center_outside_the_domain_draws_uniformly() -> None:
    sampler = always_prior()
    study = study_with(sampler)
    trial = study.ask()
    # The seed's 32 filters are not a choice here, its 1e-3 is below this range.
    draws = [sampler._draw("filters_1", CategoricalDistribution([8, 16])) for _ in range(400)]
    assert 0.4 < draws.count(8) / 400 < 0.6
    rates = [sampler._draw("learning_rate", FloatDistribution(0.01, 0.1)) for _ in range(400)]
    assert all(0.01 <= r <= 0.1 for r in rates)
    assert 0.4 < sum(r < 0.055 for r in rates) / 400 < 0.6
    assert sampler._draw("conv_blocks", IntDistribution(3, 3)) == 3
    trial.suggest_float("momentum", 0.8, 0.99)  # no center at all: drawn, not an error


def test_trust_in_the_prior_decays_as_trials_finish() -> None:
    sampler = PriorSampler(optuna.samplers.RandomSampler(seed=1), SEED, beta=8, seed=1)
    assert sampler.prior_probability(0) == 1.0 and sampler.prior_probability(8) == 0.5
    study = study_with(sampler)
    space = load_space("default")
    drawn = []
    for _ in range(80):
        trial = study.ask()
        space.suggest(trial)
        drawn.append(sampler.drew_from_prior(trial.number))
        study.tell(trial, 0.9)
    assert drawn[0]  # p = 1
    assert sum(drawn[:16]) / 16 > 0.55 > 0.2 > sum(drawn[-40:]) / 40


def test_the_sampler_survives_a_pickle_mid_search() -> None:
    sampler = always_prior()
    study = study_with(sampler)
    study.ask().suggest_float("x", 0.0, 1.0)
    copy = pickle.loads(pickle.dumps(sampler))
    a = study_with(sampler).ask().suggest_float("x", 0.0, 1.0)
    b = study_with(copy).ask().suggest_float("x", 0.0, 1.0)
    assert a == b


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match=r"beta 0 and spread 0\.2 must be more than 0"):
        PriorSampler(optuna.samplers.RandomSampler(), SEED, beta=0)


def test_warm_start_means_the_seed_first_then_the_prior() -> None:
    settings = SearchSettings(space=load_space("default"), name="s", seed=0)
    sampling = make_sampling(settings)
    # The prior is held where it is built, not found by walking the chain of samplers.
    assert isinstance(sampling.prior, PriorSampler)
    assert sampling.sampler.base is sampling.prior  # type: ignore[attr-defined]
    assert sampler_settings(settings)["prior"] == {"center": "seed network", "beta": 8.0,
                                                   "spread": 0.2, "keep": 0.6}
    seed_point = {k: v for k, v in SEED.items() if k in settings.space.searched}
    searcher = OptunaSearcher(settings.space.suggest, sampler=sampling.sampler,
                              study_name="s", max_epochs=5, metric="val_accuracy", mode="max",
                              points_to_evaluate=[seed_point], prior=sampling.prior)
    first = searcher.suggest("ray-1")
    searcher.suggest("ray-2")
    assert first == seed_point
    attrs = [t.user_attrs[DRAWN_FROM] for t in searcher.study.trials]
    assert attrs == ["warm start", "prior"]  # nothing finished yet: p = 1


def test_no_warm_start_means_no_prior() -> None:
    settings = SearchSettings(space=load_space("default"), name="s", warm_start=False)
    cold = make_sampler(settings)
    assert isinstance(cold.base, optuna.samplers.TPESampler)  # type: ignore[attr-defined]
    assert "prior" not in sampler_settings(settings)
    # Its start-up draws are random, not the prior's: 10 of them, not 5 (factories.py).
    assert sampler_settings(settings)["n_startup_trials"] == 10
    assert cold.base._n_startup_trials == 10  # type: ignore[attr-defined]
    stock = SearchSettings(space=load_space("default"), name="s", warm_start=False,
                           honest_early_stopping=False)
    assert sampler_settings(stock)["options"] == "Optuna's defaults"
