"""Train one configuration: the code path shared by ``mnist-hpo train`` and every trial."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from mnist_hpo.search.training.batchnorm import PreciseBatchNorm
from mnist_hpo.search.training.data import Split
from mnist_hpo.search.training.divergence import StopOnDivergence
from mnist_hpo.search.training.model import build_model
from mnist_hpo.search.training.pipeline import eval_dataset, make_augmenter, train_dataset
from mnist_hpo.spaces import resolve_config

#: Per-epoch metrics, in the order they are printed and stored.
EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")

#: Batches per compiled call. Keras spends ~1.5 ms of host time per call; at batch 32 on a
#: small CPU that is several percent of a step. Measured in benchmarks/train_throughput.py.
STEPS_PER_EXECUTION = 8


class EpochMetrics(keras.callbacks.Callback):  # type: ignore[misc]
    """Adds ``seconds`` and ``images_per_second`` to each epoch's logs and keeps the rows.

    Listed first among the callbacks, so the ones after it (a logger, a progress bar) see
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


class Fit:
    """One configuration's training, an epoch at a time.

    ``train`` runs it to the end and a Ray trial runs it one epoch per step, so a trial and
    its replay are the same computation. The datasets and the model live as long as the
    object: each epoch continues the shuffles, augmentation and dropout draws of the last.

    Args:
        config: A configuration (validated and completed by
            ``mnist_hpo.spaces.resolve_config``).
        split: Training and validation arrays; the test set is not touched here.
        epochs: Epochs planned: what ``lr_schedule: cosine`` decays over.
        seed: Seeds Python, NumPy and TensorFlow, the shuffling and the augmentation.
        model: Continue training this model (restored from a checkpoint) instead of
            building a fresh one; ``initial_epoch`` epochs are then already done.
        initial_epoch: Epochs already trained.
        callbacks: Run after the timing callback, so they see ``seconds`` and
            ``images_per_second`` in the logs.
        on_epoch: Called with each epoch's metrics row.
        steps_per_execution: Batches per compiled call.
        precise_bn: Re-estimate batch norm's moving statistics before each validation
            (:mod:`~mnist_hpo.search.training.batchnorm`), so that val_accuracy after a few
            hundred steps is what the network scores in inference. ``False`` keeps Keras'
            moving averages, to measure what that changes (``benchmarks/early_ranks.py``).
    """

    def __init__(self, config: Mapping[str, Any], split: Split, *, epochs: int, seed: int = 0,
                 model: keras.Model | None = None, initial_epoch: int = 0,
                 callbacks: Sequence[keras.callbacks.Callback] = (),
                 on_epoch: Callable[[dict[str, float]], None] | None = None,
                 steps_per_execution: int = STEPS_PER_EXECUTION,
                 precise_bn: bool = True) -> None:
        c = resolve_config(config)
        # A resumed trial reseeds by epoch, so it does not replay the first epochs' shuffles.
        keras.utils.set_random_seed(seed + initial_epoch)
        if model is None:
            model = build_model(c, steps_per_execution=steps_per_execution,
                                total_steps=training_steps(c, len(split.x_train), epochs))
        self.model = model
        self.done = initial_epoch
        self.timer = EpochMetrics(len(split.x_train), on_epoch)
        # Batch norm is recalibrated before each validation, inside the training time.
        calibrate = [PreciseBatchNorm(split.x_train)] if precise_bn else []
        self._callbacks = [StopOnDivergence(), *calibrate, self.timer, *callbacks]
        self._train = train_dataset(split.x_train, split.y_train, c["batch_size"],
                                    seed=seed, augmenter=make_augmenter(c, seed=seed))
        self._val = eval_dataset(split.x_val, split.y_val)

    def epoch(self) -> dict[str, float]:
        """Train one more epoch and validate; that epoch's metrics row.

        Raises:
            DivergedError: the loss became NaN, infinite or absurdly large (checked after
                every compiled call).
        """
        self.model.fit(self._train, validation_data=self._val, epochs=self.done + 1,
                       initial_epoch=self.done, callbacks=self._callbacks, verbose=0,
                       shuffle=False)  # the dataset reshuffles itself each epoch
        self.done += 1
        return self.timer.rows[-1]

    def predicted_labels(self) -> Any:
        """The model's predicted label of each validation image, in order (uint8 array):
        a trial's signature at its first rung, for choosing finalists unlike each other."""
        import numpy as np

        probs = self.model.predict(self._val, verbose=0)
        return np.asarray(probs).argmax(axis=1).astype(np.uint8)


def train(config: Mapping[str, Any], split: Split, *, epochs: int, seed: int = 0,
          callbacks: Sequence[keras.callbacks.Callback] = (),
          on_epoch: Callable[[dict[str, float]], None] | None = None,
          steps_per_execution: int = STEPS_PER_EXECUTION,
          model: keras.Model | None = None, initial_epoch: int = 0,
          stop_after: int | None = None) -> TrainResult:
    """Build the configuration's model and fit it on ``split``'s training images.

    Args are those of :class:`Fit`, and ``stop_after``: stop once this many epochs are done,
    as a trial stopped early did, with the schedule still planned over ``epochs``
    (``mnist-hpo replay``).

    Raises:
        DivergedError: the loss became NaN, infinite or absurdly large.
    """
    fit = Fit(config, split, epochs=epochs, seed=seed, model=model, initial_epoch=initial_epoch,
              callbacks=callbacks, on_epoch=on_epoch, steps_per_execution=steps_per_execution)
    last = epochs if stop_after is None else min(epochs, stop_after)
    start = time.perf_counter()
    while fit.done < last and not fit.model.stop_training:
        fit.epoch()
    return TrainResult(model=fit.model, history=fit.timer.rows,
                       seconds=time.perf_counter() - start)


def evaluate(model: keras.Model, x: Any, y: Any) -> dict[str, float]:
    """Loss and accuracy of ``model`` on uint8 images ``x`` and labels ``y``."""
    loss, accuracy = model.evaluate(eval_dataset(x, y), verbose=0)
    return {"loss": float(loss), "accuracy": float(accuracy)}
