"""Configuration dict → compiled Keras CNN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from mnist_hpo.spaces import resolve_config


def build_model(config: Mapping[str, Any], *, steps_per_execution: int = 1,
                total_steps: int | None = None) -> keras.Model:
    """Build and compile the CNN a configuration describes.

    Each of ``conv_blocks`` blocks holds ``convs_per_block`` "same"-padded convolutions of
    ``filters_i`` filters of size ``kernel_size_i`` (batch norm before the ReLU when
    ``batch_norm``), then 2×2 max-pooling and ``conv_dropout``. Then Flatten,
    Dense(``dense_units``) ReLU, ``dense_dropout``, Dense(10) softmax. With the ``seed``
    configuration this is exactly the tutorial's network.

    Args:
        config: A configuration; missing keys take the seed's values, and invalid ones raise
            :class:`spaces.SpaceError` naming the parameter (``resolve_config``).
        steps_per_execution: Batches per compiled call; >1 trims Keras' per-step overhead.
        total_steps: Optimizer steps of the whole training; ``lr_schedule: cosine`` decays
            the learning rate to 0 over them (required for it).
    """
    c = resolve_config(config)
    bn = c["batch_norm"]
    layers: list[keras.layers.Layer] = [keras.Input(shape=(28, 28, 1), name="image")]
    for b in range(1, c["conv_blocks"] + 1):
        for i in range(1, c["convs_per_block"] + 1):
            layers.append(keras.layers.Conv2D(
                c[f"filters_{b}"], c[f"kernel_size_{b}"], padding="same", use_bias=not bn,
                activation=None if bn else "relu", name=f"block{b}_conv{i}"))
            if bn:
                layers += [keras.layers.BatchNormalization(name=f"block{b}_bn{i}"),
                           keras.layers.Activation("relu", name=f"block{b}_relu{i}")]
        layers.append(keras.layers.MaxPooling2D(2, name=f"block{b}_pool"))
        if c["conv_dropout"] > 0:
            layers.append(keras.layers.Dropout(c["conv_dropout"], name=f"block{b}_dropout"))
    layers.append(keras.layers.Flatten(name="flatten"))
    layers.append(keras.layers.Dense(c["dense_units"], use_bias=not bn,
                                     activation=None if bn else "relu", name="dense"))
    if bn:
        layers += [keras.layers.BatchNormalization(name="dense_bn"),
                   keras.layers.Activation("relu", name="dense_relu")]
    if c["dense_dropout"] > 0:
        layers.append(keras.layers.Dropout(c["dense_dropout"], name="dense_dropout"))
    layers.append(keras.layers.Dense(10, activation="softmax", name="digits"))

    model = keras.Sequential(layers, name="mnist_cnn")
    # Keywords, not positions: Keras 3's third positional argument is loss_weights.
    model.compile(optimizer=make_optimizer(c, total_steps), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    return model


def make_optimizer(config: Mapping[str, Any],
                   total_steps: int | None = None) -> keras.optimizers.Optimizer:
    """The configured optimizer at the configured learning rate (Keras defaults otherwise).

    ``lr_schedule: cosine`` decays the rate to 0 over ``total_steps``. The schedule lives
    in the optimizer, so it is saved with the model and a resumed trial continues it from
    the restored step count.
    """
    lr: float | keras.optimizers.schedules.LearningRateSchedule = config["learning_rate"]
    if config.get("lr_schedule", "constant") == "cosine":
        if not total_steps:
            raise ValueError("lr_schedule cosine needs the number of training steps")
        lr = keras.optimizers.schedules.CosineDecay(config["learning_rate"], total_steps)
    name = config["optimizer"]
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=config["momentum"])
    optimizers: dict[str, type[keras.optimizers.Optimizer]] = {
        "adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam, "rmsprop": keras.optimizers.RMSprop,
    }
    return optimizers[name](learning_rate=lr)
