"""Keras callback that reports each epoch to Ray Tune with a checkpoint of the model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import keras
import ray
from mnist_hpo.reports.records import CHECKPOINT_MODEL, CHECKPOINT_STATE
from mnist_hpo.search.training.fit import EPOCH_KEYS
from ray import tune


class TuneReporter(keras.callbacks.Callback):  # type: ignore[misc]
    """``tune.report`` once per epoch, with the model as a checkpoint.

    Ray keeps two checkpoints per trial at most (``CheckpointConfig(num_to_keep=1)`` scored
    by val_accuracy, plus the latest, which Ray never deletes): the trial's best model, which
    export uses, and its latest state, from which a resumed or retried trial continues
    without repeating an epoch.

    It must run after ``EpochMetrics`` (``train`` puts it there), whose ``seconds`` and
    ``images_per_second`` it reports.
    """

    def __init__(self) -> None:
        super().__init__()
        # Which Ray node ran the epoch: node_ip alone cannot tell two nodes on one host apart.
        self.node_id = ray.get_runtime_context().get_node_id()

    # Ray tells a stopped trial (ASHA, a budget) only at its next report, an epoch away, but
    # a reused worker waits 2 s for the trial's thread before it fails the next trial
    # ("reuse requires reset_config() to ... return True"). So stop within a few batches.
    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if stop_requested():
            self.model.stop_training = True

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if stop_requested():
            self.model.stop_evaluating = True

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if stop_requested():
            return  # a cut-short epoch is not a result
        logs = logs or {}
        metrics: dict[str, Any] = {k: float(logs[k]) for k in EPOCH_KEYS if k in logs}
        metrics |= {"epoch": epoch + 1, "node_id": self.node_id}
        with tempfile.TemporaryDirectory(prefix="mnist-hpo-ckpt-") as folder:
            self.model.save(Path(folder) / CHECKPOINT_MODEL)
            state = {"epoch": epoch + 1, "val_accuracy": metrics["val_accuracy"]}
            (Path(folder) / CHECKPOINT_STATE).write_text(json.dumps(state))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def stop_requested() -> bool:
    """Whether Ray Tune has asked this trial to stop while it trains.

    Ray has no public API for it: this reads the stop event of Ray's function-trainable
    session, which ``ray.tune.report`` itself checks.
    """
    from ray.train._internal.session import get_session

    session = get_session()
    return session is not None and session.stop_event.is_set()
