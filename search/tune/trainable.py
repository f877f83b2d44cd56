"""One trial: a configuration trained inside a Ray Tune worker, one epoch per step.

Ray's class API (``tune.Trainable``): Ray calls ``step`` once per epoch and decides between
steps whether the trial goes on, so a trial that ASHA or a budget stops ends at an epoch
boundary with nothing cut short; a reused worker takes its next trial through
``reset_config``; ``save_checkpoint``/``load_checkpoint`` hold the model and its epoch.

This module is imported by the driver (to hand the class to Ray) as well as by the workers,
so TensorFlow is only imported inside the methods: the driver never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray import tune

from mnist_hpo.search.experiment.names import CHECKPOINT_MODEL, CHECKPOINT_STATE, SIGNATURE_KEY
from mnist_hpo.search.training.data import Split
from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads

if TYPE_CHECKING:
    from mnist_hpo.search.training.fit import Fit

log = logging.getLogger(__name__)


class EpochTrainable(tune.Trainable):
    """Trains a sampled configuration, one epoch per ``step``.

    ``split`` arrives through Ray's object store (``tune.with_parameters``): the driver loads
    MNIST once and every trial on every node reads the same shared arrays.

    Args (of ``setup``, after the configuration):
        split: Training and validation arrays.
        epochs: Epochs of a trial that runs to the end; the scheduler may stop it sooner.
        seed: The search's seed: every trial sees the same shuffles, so configurations are
            compared on equal terms.
        threads: TensorFlow threads, the trial's CPU share.
        gpus: The trial's GPU share (0 on CPU).
        signature_epoch: Report the predicted validation labels after this epoch, the
            first rung (:data:`SIGNATURE_KEY`; passed only when the search picks finalists).
    """

    # tune.with_parameters hands its objects to setup as keywords (Ray's documented use).
    def setup(self, config: dict[str, Any], *, split: Split,  # type: ignore[override]
              epochs: int, seed: int, threads: int, gpus: float,
              signature_epoch: int | None = None) -> None:
        # Nothing slow here: Ray counts a trial as pending until setup returns and starts
        # the next trial only then, so TensorFlow starts in the first step instead.
        prepare_tensorflow()
        import ray

        self._split, self._epochs, self._seed = split, epochs, seed
        self._threads, self._gpus = threads, gpus
        self._signature_epoch = signature_epoch
        # Which Ray node ran the epoch: node_ip alone cannot tell two nodes on one host apart.
        self._node_id = ray.get_runtime_context().get_node_id()
        self._fit: Fit | None = None  # built at the first step, for ``self.config``
        self._cost: dict[str, Any] | None = None  # measured after the first epoch

    def step(self) -> dict[str, Any]:
        from mnist_hpo.search.training.fit import EPOCH_KEYS

        if self._fit is None:
            self._fit = self._start()
        row = self._fit.epoch()
        if self._cost is None:
            # Size and speed depend on the architecture alone: measured once, on this
            # worker, on the trained model, and reported with every epoch.
            from mnist_hpo.search.training.cost import model_cost

            self._cost = model_cost(self._fit.model, repeats=10,
                                    images=self._split.x_val[:256, :, :, None] / 255.0)
        result: dict[str, Any] = {k: row[k] for k in EPOCH_KEYS if k in row}
        result |= {"epoch": self._fit.done, "node_id": self._node_id, **self._cost}
        if self._fit.done == self._signature_epoch:
            # One digit per validation image: a few kilobytes, once per trial.
            labels = self._fit.predicted_labels()
            result[SIGNATURE_KEY] = (labels + ord("0")).tobytes().decode("ascii")
        if self._fit.done >= self._epochs:
            result["done"] = True  # ran every epoch: the trial is complete
        return result

    def save_checkpoint(self, checkpoint_dir: str) -> None:
        if self._fit is None:
            return  # nothing trained yet: a folder without state.json is no model
        folder = Path(checkpoint_dir)
        self._fit.model.save(folder / CHECKPOINT_MODEL)
        rows = self._fit.timer.rows
        state = {"epoch": self._fit.done,
                 "val_accuracy": rows[-1]["val_accuracy"] if rows else None}
        (folder / CHECKPOINT_STATE).write_text(json.dumps(state))

    def load_checkpoint(self, checkpoint: dict[str, Any] | str | None) -> None:
        # The latest epoch's checkpoint folder (save_checkpoint returns no dict), when the
        # trial is resumed or retried.
        if isinstance(checkpoint, str):
            self._fit = self._start(Path(checkpoint))
            log.info("resuming after epoch %d", self._fit.done)

    def reset_config(self, new_config: dict[str, Any]) -> bool:
        # A reused worker: Ray has set self.config; the model is built at the first step.
        self._fit = None
        self._cost = None
        return True

    def _start(self, checkpoint: Path | None = None) -> Fit:
        """``self.config``'s training, from scratch or continued from ``checkpoint``."""
        set_threads(self._threads)  # before TensorFlow's first operation in this process
        if self._gpus > 0:
            _share_gpus()
        import keras

        from mnist_hpo.search.training.fit import Fit

        keras.backend.clear_session()  # a reused worker still holds the last trial's graphs
        model, done = None, 0
        if checkpoint is not None:
            state = json.loads((checkpoint / CHECKPOINT_STATE).read_text())
            model = keras.models.load_model(checkpoint / CHECKPOINT_MODEL, safe_mode=True)
            done = int(state["epoch"])
        return Fit(self.config, self._split, epochs=self._epochs, seed=self._seed, model=model,
                   initial_epoch=done)


def _share_gpus() -> None:
    """Let several trials share one GPU: allocate memory as needed, not all of it up front."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        # RuntimeError: a reused worker whose runtime started with growth already set.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
