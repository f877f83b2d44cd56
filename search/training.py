"""Train one configuration: the code path shared by ``mnist-hpo train`` and every trial."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from search.data import Split
from search.failures import StopOnDivergence
from search.model import build_model
from search.pipeline import eval_dataset, make_augmenter, train_dataset
from spaces import resolve_config

#: Per-epoch metrics, in the order they are printed and stored.
EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")

#: Batches per compiled call. Keras spends ~1.5 ms of host time per call; at batch 32 on a
#: small CPU that is several percent of a step. Measured in benchmarks/train_throughput.py.
STEPS_PER_EXECUTION = 8


class EpochMetrics(keras.callbacks.Callback):  # type: ignore[misc]
    """Adds ``seconds`` and ``images_per_second`` to each epoch's logs and keeps the rows.

    Listed first among the callbacks, so the ones after it (a Tune reporter, a logger) see
    the two timing keys in the same ``logs`` dict. Images/s counts training only: the clock
    stops when validation begins.
    """

    def __init__(self, n_images: int, on_epoch: Callable[[dict[str, float]], None] | None = None):
        super().__init__()
        self.n_images = n_images
        self.on_epoch = on_epoch
        self.rows: list[dict[str, float]] = []
        self._start = self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._start = self._train_end = time.perf_counter()

    def on_test_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        logs = logs if logs is not None else {}
        train_seconds = (self._train_end if self._train_end > self._start else now) - self._start
        logs["seconds"] = now - self._start
        logs["images_per_second"] = self.n_images / max(train_seconds, 1e-9)
        row = {"epoch": epoch + 1, **{k: float(logs[k]) for k in EPOCH_KEYS if k in logs}}
        self.rows.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)


@dataclass
class TrainResult:
    """A trained model and its per-epoch history."""

    model: keras.Model
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def training_steps(config: Mapping[str, Any], images: int, epochs: int) -> int:
    """Optimizer steps of ``epochs`` epochs over ``images`` images at the configuration's
    batch size: what ``lr_schedule: cosine`` decays over."""
    return epochs * math.ceil(images / int(config["batch_size"]))


def train(config: Mapping[str, Any], split: Split, *, epochs: int, seed: int = 0,
          callbacks: Sequence[keras.callbacks.Callback] = (),
          on_epoch: Callable[[dict[str, float]], None] | None = None,
          steps_per_execution: int = STEPS_PER_EXECUTION,
          model: keras.Model | None = None, initial_epoch: int = 0,
          stop_after: int | None = None) -> TrainResult:
    """Build the configuration's model and fit it on ``split``'s training images.

    Args:
        config: A configuration (validated and completed by ``spaces.resolve_config``).
        split: Training and validation arrays; the test set is not touched here.
        epochs: Epochs planned: what ``lr_schedule: cosine`` decays over (callbacks, or
            ``stop_after``, may stop earlier).
        seed: Seeds Python, NumPy and TensorFlow, the shuffling and the augmentation.
        callbacks: Run after the timing callback, so they see ``seconds`` and
            ``images_per_second`` in the logs.

    Raises:
        DivergedError: the loss became NaN or infinite (checked after every compiled call
            of ``steps_per_execution`` steps).
        on_epoch: Called with each epoch's metrics row.
        steps_per_execution: Batches per compiled call.
        model: Continue training this model (restored from a checkpoint) instead of
            building a fresh one; ``initial_epoch`` epochs are then already done.
        initial_epoch: Epochs already trained; numbering and ``epochs`` count from 0.
        stop_after: Stop once this many epochs are done, as a trial stopped early did,
            with the schedule still planned over ``epochs`` (``mnist-hpo replay``).
    """
    c = resolve_config(config)
    # A resumed trial reseeds by epoch, so it does not replay the first epochs' shuffles.
    keras.utils.set_random_seed(seed + initial_epoch)
    if model is None:
        model = build_model(c, steps_per_execution=steps_per_execution,
                            total_steps=training_steps(c, len(split.x_train), epochs))
    train_ds = train_dataset(split.x_train, split.y_train, c["batch_size"],
                             seed=seed, augmenter=make_augmenter(c, seed=seed))
    val_ds = eval_dataset(split.x_val, split.y_val)
    timer = EpochMetrics(len(split.x_train), on_epoch)
    start = time.perf_counter()
    last = epochs if stop_after is None else min(epochs, stop_after)
    model.fit(train_ds, validation_data=val_ds, epochs=last, initial_epoch=initial_epoch,
              callbacks=[StopOnDivergence(), timer, *callbacks], verbose=0,
              shuffle=False)  # the dataset reshuffles itself each epoch
    return TrainResult(model=model, history=timer.rows, seconds=time.perf_counter() - start)


def evaluate(model: keras.Model, x: Any, y: Any) -> dict[str, float]:
    """Loss and accuracy of ``model`` on uint8 images ``x`` and labels ``y``."""
    loss, accuracy = model.evaluate(eval_dataset(x, y), verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}
