"""Input pipeline: scaling, batching, shuffling, and in-graph augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mnist_hpo.search.training.data import scale_images
from mnist_hpo.search.training.pipeline import eval_dataset, make_augmenter, train_dataset
from mnist_hpo.spaces import resolve_config

OFF = {"rotation": 0.0, "zoom": 0.0, "width_shift": 0.0, "height_shift": 0.0}


def digit_like(n: int = 8) -> np.ndarray:
    """Bright off-centre strokes on black, so every transform moves some pixels."""
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 5:20, 8:11] = 255
    x[:, 5:8, 8:22] = 200
    return x


def test_no_augmenter_when_all_ranges_are_zero() -> None:
    assert make_augmenter(resolve_config(OFF)) is None


@pytest.mark.parametrize("key, value", [("rotation", 15.0), ("zoom", 0.2),
                                        ("width_shift", 0.15), ("height_shift", 0.15)])
def test_each_augmentation_keeps_shape_and_dtype_and_changes_images(key: str, value: float
                                                                     ) -> None:
    augmenter = make_augmenter(resolve_config(OFF | {key: value}), seed=1)
    assert augmenter is not None
    x = tf.constant(scale_images(digit_like()))
    out = augmenter(x, training=True)
    assert out.shape == x.shape and out.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(out - x))) > 0.1
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0 + 1e-6
    np.testing.assert_array_equal(augmenter(x, training=False), x)  # off at inference


def test_train_dataset_scales_batches_and_reshuffles() -> None:
    x = np.arange(10, dtype=np.uint8)[:, None, None] * np.ones((1, 28, 28), np.uint8)
    y = np.arange(10, dtype=np.uint8)
    ds = train_dataset(x, y, batch_size=4, seed=0)
    batches = list(ds)
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    xb, yb = batches[0]
    assert xb.shape == (4, 28, 28, 1) and xb.dtype == tf.float32
    np.testing.assert_allclose(xb[:, 0, 0, 0].numpy() * 255, yb.numpy(), atol=1e-4)
    first = np.concatenate([b[1].numpy() for b in ds])
    second = np.concatenate([b[1].numpy() for b in ds])
    assert sorted(first) == list(range(10)) and not np.array_equal(first, second)


def test_augmented_dataset_keeps_labels_aligned_and_shapes() -> None:
    config = resolve_config({})
    ds = train_dataset(digit_like(6), np.arange(6, dtype=np.uint8), batch_size=3,
                       augmenter=make_augmenter(config))
    for xb, yb in ds:
        assert xb.shape == (3, 28, 28, 1) and xb.dtype == tf.float32 and yb.shape == (3,)


def test_eval_dataset_keeps_order() -> None:
    y = np.arange(7, dtype=np.uint8)
    labels = np.concatenate([b[1].numpy() for b in eval_dataset(digit_like(7), y, 3)])
    np.testing.assert_array_equal(labels, y)


def test_no_dataset_autotunes() -> None:
    """Autotuning off (``pipeline._without_autotune``): with it, the next epoch's iterator
    Keras opens at the end of each ``fit`` (one per epoch in a trial) held the trial for
    seconds when dropped, in about one ``fit`` of two."""
    x, y = digit_like(), np.arange(8) % 10
    augmented = train_dataset(x, y, 4, augmenter=make_augmenter(resolve_config({})))
    for ds in (train_dataset(x, y, 4), augmented, eval_dataset(x, y)):
        assert ds.options().autotune.enabled is False
