"""In-memory ``tf.data`` input pipelines, with in-graph augmentation.

Images stay uint8 until batched: casting and scaling a whole batch at once is far cheaper
than per image. Augmentation uses Keras preprocessing layers inside the pipeline (Keras 3 has
no ``ImageDataGenerator``), so the trained model itself holds no augmentation layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def make_augmenter(config: Mapping[str, Any], seed: int = 0) -> keras.Sequential | None:
    """Random rotation, zoom and shifts from a configuration; ``None`` when all are 0.

    ``rotation`` is in degrees (Keras wants a fraction of a full turn); ``zoom`` and the
    shifts are fractions of the image size. A range of 0 leaves that transform out.
    Pixels moved in from outside the image are black, MNIST's background.
    """
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    layers: list[keras.layers.Layer] = []
    if config["rotation"] > 0:
        layers.append(keras.layers.RandomRotation(config["rotation"] / 360.0, seed=seed, **fill))
    if config["zoom"] > 0:
        layers.append(keras.layers.RandomZoom(config["zoom"], seed=seed + 1, **fill))
    if config["width_shift"] > 0 or config["height_shift"] > 0:
        layers.append(keras.layers.RandomTranslation(
            config["height_shift"], config["width_shift"], seed=seed + 2, **fill))
    return keras.Sequential(layers, name="augmentation") if layers else None


def _scale(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(x, tf.float32)[..., tf.newaxis] / 255.0


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int = 0,
                  augmenter: keras.Sequential | None = None) -> tf.data.Dataset:
    """Shuffled (anew each epoch, seeded), batched, scaled, augmented, prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augmenter is None:
        ds = ds.map(lambda xb, yb: (_scale(xb), yb), num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda xb, yb: (augmenter(_scale(xb), training=True), yb),
                    num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)


def eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tf.data.Dataset:
    """Batched and scaled, in order, no augmentation: for validation and test."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return ds.map(lambda xb, yb: (_scale(xb), yb), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def scale_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) → float32 (N, 28, 28, 1) in [0, 1], as the models expect."""
    return (x.astype(np.float32) / 255.0)[..., np.newaxis]
