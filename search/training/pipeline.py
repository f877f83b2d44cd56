"""In-memory ``tf.data`` input pipelines, with in-graph augmentation.

Images stay uint8 until batched: casting and scaling a whole batch at once is far cheaper
than per image. Augmentation is a Keras layer applied inside the pipeline (Keras 3 has no
``ImageDataGenerator``), so the trained model itself holds no augmentation layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from mnist_hpo.search.training.augment import RandomAffine

AUTOTUNE = tf.data.AUTOTUNE


def make_augmenter(config: Mapping[str, Any], seed: int = 0) -> RandomAffine | None:
    """The configuration's rotation (degrees), zoom and shifts (fractions) as one layer;
    ``None`` when all four are 0."""
    ranges = {k: float(config[k]) for k in ("rotation", "zoom", "width_shift", "height_shift")}
    if not any(ranges.values()):
        return None
    return RandomAffine(**ranges, seed=seed, name="augmentation")


def _without_autotune(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuning off: its ``AUTOTUNE`` parallelism and prefetch buffer
    take tf.data's fixed defaults instead of being tuned while it runs.

    Keras' ``fit`` opens the next epoch's iterator as soon as an epoch ends, and a trial calls
    ``fit`` once per epoch, so that iterator is dropped unused when ``fit`` returns. With
    autotuning on, its background threads have started filling an autotuned buffer, and
    dropping it waits for them: 3.8 s after one ``fit`` in two on 1,000 training images, 18 s
    on 3,000 (py-spy: ``~IteratorResource`` waiting in ``UnboundedThreadPool``). Off, no
    wait, and the same images/s."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def _scale(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(x, tf.float32)[..., tf.newaxis] / 255.0


def train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int = 0,
                  augmenter: RandomAffine | None = None) -> tf.data.Dataset:
    """Shuffled (anew each epoch, seeded), batched, scaled, augmented, prefetched."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augmenter is None:
        ds = ds.map(lambda xb, yb: (_scale(xb), yb), num_parallel_calls=AUTOTUNE)
    else:
        ds = ds.map(lambda xb, yb: (augmenter(_scale(xb), training=True), yb),
                    num_parallel_calls=AUTOTUNE)
    return _without_autotune(ds.prefetch(AUTOTUNE))


def eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 256) -> tf.data.Dataset:
    """Batched and scaled, in order, no augmentation: for validation and test."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    ds = ds.map(lambda xb, yb: (_scale(xb), yb), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
    return _without_autotune(ds)
