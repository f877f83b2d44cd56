"""Costs from a configuration alone (spaces/cost.py) against Keras and by hand, and the
cheapest network a Pareto search starts from."""

from __future__ import annotations

import pytest

from mnist_hpo.search.training.model import build_model
from mnist_hpo.search.tune.factories import warm_start_points
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space, resolve_config, sample_configs, space_from_dict
from mnist_hpo.spaces.cost import cheapest, multiply_adds, parameters


@pytest.mark.parametrize("seed", range(3))
def test_parameters_are_what_keras_counts(seed: int) -> None:
    for config in sample_configs(load_space("default"), 15, seed=seed):
        assert parameters(config) == build_model(config, total_steps=10).count_params(), config


def test_the_seed_networks_multiply_adds_by_hand() -> None:
    convs = [28 * 28 * 25 * 1 * 32, 28 * 28 * 25 * 32 * 32,  # block 1: 5x5 at 28x28
             14 * 14 * 9 * 32 * 64, 14 * 14 * 9 * 64 * 64]   # block 2: 3x3 at 14x14
    dense = 7 * 7 * 64 * 256 + 256 * 10
    assert multiply_adds({}) == sum(convs) + dense == 32_340_992
    assert parameters({}) == 887_530


def test_the_cheapest_network_of_default_beats_every_random_draw() -> None:
    space = load_space("default")
    cheap = cheapest(space, "params")
    assert space.contains(resolve_config(cheap))
    assert parameters(cheap) == 23_626 and parameters(cheap) * 20 < parameters({})
    draws = sample_configs(space, 400, seed=1)
    assert all(parameters(c) >= parameters(cheap) for c in draws)
    fast = cheapest(space, "latency")
    assert all(multiply_adds(c) >= multiply_adds(fast) for c in draws)
    # Trained like the seed network but without its dropout: only those differ.
    seed = resolve_config({})
    assert cheap["conv_dropout"] == cheap["dense_dropout"] == 0.0
    assert {k for k in cheap if cheap[k] != seed.get(k)} <= {
        "conv_blocks", "convs_per_block", "filters_1", "filters_2", "filters_3",
        "kernel_size_1", "kernel_size_2", "kernel_size_3", "dense_units", "conv_dropout",
        "dense_dropout"}


def test_outside_the_seeds_values_it_takes_the_nearest() -> None:
    space = space_from_dict({"name": "n", "description": "d", "epochs": 1, "params": {
        "dense_units": {"choices": [16, 64]}, "learning_rate": {"choices": [0.004, 1.0e-6]},
        "optimizer": {"choices": ["sgd", "rmsprop"]}, "rotation": {"low": 12, "high": 20}}})
    cheap = cheapest(space, "params")
    assert (cheap["dense_units"], cheap["learning_rate"], cheap["optimizer"],
            cheap["rotation"]) == (16, 0.004, "sgd", 12)


def test_a_pareto_search_starts_at_both_ends() -> None:
    space = load_space("default")
    single = warm_start_points(SearchSettings(space=space, name="s"))
    pareto = warm_start_points(SearchSettings(space=space, name="p",
                                              objective="accuracy,params"))
    assert len(single) == 2 and pareto[0] == single[0]  # single: the seed and its twin
    assert len(pareto) == 2 and parameters(pareto[1]) == 23_626
    assert warm_start_points(SearchSettings(space=space, name="c", warm_start=False,
                                            objective="accuracy,params")) == []
