"""Spaces: presets, YAML schema and validation, define-by-run sampling, configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from mnist_hpo.spaces import (
    FloatRange,
    IntRange,
    SpaceError,
    load_space,
    preset_names,
    resolve_config,
    sample_configs,
    space_from_dict,
)

TUTORIAL = {
    "conv_blocks": 2, "convs_per_block": 2, "filters_1": 32, "filters_2": 64,
    "kernel_size_1": 5, "kernel_size_2": 3, "batch_norm": False, "conv_dropout": 0.25,
    "dense_units": 256, "dense_dropout": 0.5, "optimizer": "adam", "learning_rate": 0.001,
    "lr_schedule": "constant",
    "batch_size": 32, "rotation": 10.0, "zoom": 0.1, "width_shift": 0.1, "height_shift": 0.1,
}


def test_presets() -> None:
    assert {"seed", "default", "smoke"} <= set(preset_names())


def test_seed_is_the_tutorial() -> None:
    seed = load_space("seed")
    assert seed.fixed_config() == TUTORIAL
    assert seed.epochs == 5
    assert resolve_config({}) == TUTORIAL  # defaults are the tutorial's values


def test_default_contains_the_seed_and_smoke_does_not() -> None:
    assert load_space("default").contains(TUTORIAL)
    assert not load_space("smoke").contains(TUTORIAL)
    assert not load_space("default").contains(TUTORIAL | {"filters_1": 17})


def test_conditional_parameters() -> None:
    configs = sample_configs(load_space("default"), 200, seed=1)
    depths = {c["conv_blocks"] for c in configs}
    assert depths == {1, 2, 3}
    for c in configs:
        blocks = {int(k.rsplit("_", 1)[1]) for k in c if k.startswith("filters_")}
        assert blocks == set(range(1, c["conv_blocks"] + 1))
        assert ("momentum" in c) == (c["optimizer"] == "sgd")
        assert load_space("default").contains(c)


def test_sampling_through_tpe_records_only_active_parameters() -> None:
    space = load_space("default")
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for i in range(8):
        trial = study.ask()
        config = space.suggest(trial)
        study.tell(trial, float(i))
        searched = {k for k in config if k in space.searched}
        assert set(study.trials[-1].params) == searched


def test_bounds_are_inclusive() -> None:
    space = space_from_dict({"params": {"conv_blocks": {"low": 1, "high": 2},
                                        "dense_units": {"low": 10, "high": 12}}})
    values = {c["dense_units"] for c in sample_configs(space, 60)}
    assert values == {10, 11, 12}
    assert IntRange(1, 3).contains(3) and FloatRange(0.0, 0.5).contains(0.5)


def test_show_round_trips(tmp_path: Path) -> None:
    for name in preset_names():
        space = load_space(name)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(space.to_yaml_dict()))
        assert load_space(path).domains == space.domains


def test_user_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nepochs: 3\nparams:\n"
        "  conv_blocks: {low: 2, high: 3}\n"
        "  filters: [{choices: [16, 32]}, 64, {low: 64, high: 128, log: true}]\n"
        "  learning_rate: {low: 1e-4, high: 1e-2, log: true}\n"
        "  optimizer: {choices: [adam, sgd]}\n")
    space = load_space(str(path))
    assert space.name == "mine" and space.epochs == 3 and space.source == str(path)
    assert space.domains["learning_rate"] == FloatRange(1e-4, 1e-2, log=True)
    assert space.domains["filters_3"] == IntRange(64, 128, log=True)
    for c in sample_configs(space, 20):
        assert c["filters_2"] == 64 and c["dense_units"] == 256  # left out: seed's value


BAD_SPACES: list[tuple[dict[str, Any], str]] = [
    ({"params": {"dropout": 0.3}}, r"unknown parameter 'dropout'; known parameters: conv_blocks"),
    ({"params": {"learning_rate": {"low": 0.1, "high": 0.01}}},
     r"learning_rate: low <= high must hold, got low=0.1, high=0.01"),
    ({"params": {"conv_dropout": {"low": 0.0, "high": 1.0}}},
     r"conv_dropout\.high: 1\.0 breaks the rule 0 <= value < 1"),
    ({"params": {"dense_dropout": -0.1}}, r"dense_dropout: -0\.1 breaks the rule 0 <= value < 1"),
    ({"params": {"rotation": {"low": 0.0, "high": 10.0, "log": True}}},
     r"rotation: a log scale needs low > 0, got low=0\.0"),
    ({"params": {"optimizer": {"choices": ["adam", "lion"]}}},
     r"optimizer\.choices: 'lion' breaks the rule one of adam, adamw, nadam, rmsprop, sgd"),
    ({"params": {"conv_blocks": {"low": 1, "high": 5}}},
     r"conv_blocks\.high: 5 breaks the rule 1 <= value <= 4"),
    ({"params": {"conv_blocks": 3, "filters": [32, 64]}},
     r"filters lists 2 block\(s\) but conv_blocks reaches 3"),
    ({"params": {"batch_norm": {"low": 0, "high": 1}}}, r"batch_norm is bool, it takes"),
    ({"params": {"filters": {"low": 8.5, "high": 16}}}, r"filters\.low: 8\.5 is not an integer"),
    ({"params": {"zoom": {"low": 0.0, "hi": 0.2}}}, r"zoom: unknown key\(s\) hi"),
    ({"epochs": 0}, r"epochs=0 must be an integer, 1 <= epochs <= 1000"),
    ({"trials": 4}, r"unknown key\(s\) trials; allowed: description, epochs, name, params"),
]


@pytest.mark.parametrize(("data", "message"), BAD_SPACES)
def test_invalid_space_names_parameter_value_and_rule(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        space_from_dict(data, source="my.yaml")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("params: {conv_dropout: {low: 0.0, high: 1.5}}\n")
    with pytest.raises(SpaceError, match=r"bad\.yaml: conv_dropout\.high: 1\.5 breaks"):
        load_space(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("params: {zoom: [\n")
    with pytest.raises(SpaceError, match=r"broken\.yaml: not valid YAML at line 2"):
        load_space(broken)
    with pytest.raises(SpaceError, match=r"missing\.yaml: cannot read it"):
        load_space(tmp_path / "missing.yaml")
    with pytest.raises(SpaceError, match=r"space 'tiny': not a preset \(default, seed, smoke"):
        load_space("tiny")


@pytest.mark.parametrize(("config", "message"), [
    ({"filters_3": 64}, r"filters_3 is inactive because conv_blocks=2; remove it"),
    ({"momentum": 0.9}, r"momentum is inactive because optimizer='adam'"),
    ({"conv_blocks": 5}, r"conv_blocks: 5 breaks the rule 1 <= value <= 4"),
    ({"learning-rate": 0.1}, r"unknown parameter 'learning-rate'"),
    ({"batch_size": "32"}, r"batch_size: '32' is not an integer"),
])
def test_invalid_configuration(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SpaceError, match=message):
        resolve_config(config)
