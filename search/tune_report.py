"""Keras callback that reports each epoch to Ray Tune and checkpoints the best model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import keras
import ray
from ray import tune

from search.training import EPOCH_KEYS
from search.trial import CHECKPOINT_MODEL, CHECKPOINT_STATE


class TuneReporter(keras.callbacks.Callback):  # type: ignore[misc]
    """``tune.report`` once per epoch; a checkpoint only when val_accuracy improves.

    Ray keeps one checkpoint per trial (``CheckpointConfig(num_to_keep=1)``, scored by
    val_accuracy), so each trial ends with its best model on disk, and a trial that is
    paused or restored resumes from it. Saving only on improvement keeps disk traffic to a
    few saves per trial instead of one per epoch.

    It must run after ``EpochMetrics`` (``train`` puts it there), whose ``seconds`` and
    ``images_per_second`` it reports.
    """

    def __init__(self, best_so_far: float | None = None) -> None:
        super().__init__()
        self.best = best_so_far
        # Which Ray node ran the epoch: node_ip alone cannot tell two nodes on one host apart.
        self.node_id = ray.get_runtime_context().get_node_id()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        metrics: dict[str, Any] = {k: float(logs[k]) for k in EPOCH_KEYS if k in logs}
        metrics |= {"epoch": epoch + 1, "node_id": self.node_id}
        score = float(metrics["val_accuracy"])
        if self.best is not None and score <= self.best:
            tune.report(metrics)
            return
        self.best = score
        with tempfile.TemporaryDirectory(prefix="mnist-hpo-ckpt-") as folder:
            self.model.save(Path(folder) / CHECKPOINT_MODEL)
            state = {"epoch": epoch + 1, "val_accuracy": score}
            (Path(folder) / CHECKPOINT_STATE).write_text(json.dumps(state))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
