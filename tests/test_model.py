"""Model builder: every preset's samples build a 10-class model; the seed is the tutorial."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from mnist_hpo.search.training.model import build_model
from mnist_hpo.spaces import SpaceError, load_space, preset_names, resolve_config, sample_configs


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_samples_and_builds(name: str) -> None:
    for config in sample_configs(load_space(name), 3, seed=7):
        model = build_model(config, total_steps=100)
        assert model.output_shape == (None, 10)
        probs = model.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_seed_model_is_the_tutorial_network() -> None:
    model = build_model(load_space("seed").fixed_config() or {})
    summary = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            summary.append((kind, layer.filters, layer.kernel_size, layer.activation.__name__,
                            layer.padding))
        elif kind == "Dense":
            summary.append((kind, layer.units, layer.activation.__name__))
        elif kind == "Dropout":
            summary.append((kind, layer.rate))
        else:
            summary.append((kind,))
    assert summary == [
        ("Conv2D", 32, (5, 5), "relu", "same"), ("Conv2D", 32, (5, 5), "relu", "same"),
        ("MaxPooling2D",), ("Dropout", 0.25),
        ("Conv2D", 64, (3, 3), "relu", "same"), ("Conv2D", 64, (3, 3), "relu", "same"),
        ("MaxPooling2D",), ("Dropout", 0.25),
        ("Flatten",), ("Dense", 256, "relu"), ("Dropout", 0.5), ("Dense", 10, "softmax"),
    ]
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


@pytest.mark.parametrize(("name", "cls"), [
    ("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW),
    ("nadam", keras.optimizers.Nadam), ("rmsprop", keras.optimizers.RMSprop),
    ("sgd", keras.optimizers.SGD),
])
def test_optimizers(name: str, cls: type) -> None:
    model = build_model({"optimizer": name, "learning_rate": 0.02, "conv_blocks": 1,
                         "convs_per_block": 1})
    assert type(model.optimizer) is cls
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    if name == "sgd":
        assert float(model.optimizer.momentum) == pytest.approx(0.9)


def test_deepest_model_and_batch_norm_build() -> None:
    config = resolve_config({"conv_blocks": 4, "convs_per_block": 1, "batch_norm": True,
                             "conv_dropout": 0.0, "dense_dropout": 0.0})
    model = build_model(config)
    names = [layer.name for layer in model.layers]
    assert "block4_pool" in names and "block1_bn1" in names and "dense_bn" in names
    assert not any("dropout" in n for n in names)  # dropout 0 adds no layer
    assert model.get_layer("block4_pool").output.shape[1:3] == (1, 1)


def test_unbuildable_depth_names_the_parameter() -> None:
    with pytest.raises(SpaceError, match=r"conv_blocks: 5 breaks the rule 1 <= value <= 4"):
        build_model({"conv_blocks": 5})


def test_cosine_schedule_decays_to_zero_and_survives_saving(tmp_path: Path) -> None:
    config = {"conv_blocks": 1, "convs_per_block": 1, "learning_rate": 0.01,
              "lr_schedule": "cosine"}
    model = build_model(config, total_steps=4)
    x, y = np.zeros((8, 28, 28, 1), np.float32), np.zeros(8, np.int64)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 2 of 4 steps: half way
    assert float(model.optimizer.learning_rate) == pytest.approx(0.005, rel=1e-4)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    again.fit(x, y, batch_size=4, epochs=1, verbose=0)  # the saved step count goes on
    assert float(again.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_cosine_schedule_needs_the_step_count() -> None:
    with pytest.raises(ValueError, match="lr_schedule cosine needs the number of training"):
        build_model({"lr_schedule": "cosine"})
