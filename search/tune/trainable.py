"""One trial: a configuration trained inside a Ray Tune worker, through ``search.training``
(``fit.train``).

This module is imported by the driver (to hand ``run_trial`` to Ray) as well as by the
workers, so TensorFlow is only imported inside ``run_trial``: the driver never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from mnist_hpo.reports.records import CHECKPOINT_MODEL, CHECKPOINT_STATE
from mnist_hpo.search.training.data import Split
from mnist_hpo.search.training.runtime import quiet_tensorflow, set_threads

log = logging.getLogger(__name__)


def run_trial(config: dict[str, Any], *, split: Split, epochs: int, seed: int, threads: int,
              gpus: float) -> None:
    """Ray Tune function trainable: train ``config`` and report every epoch.

    ``split`` arrives through Ray's object store (``tune.with_parameters``): the driver loads
    MNIST once and every trial on every node reads the same shared arrays.

    Args:
        config: The sampled configuration.
        split: Training and validation arrays.
        epochs: Maximum epochs; the scheduler may stop the trial sooner.
        seed: The search's seed: every trial sees the same shuffles, so configurations are
            compared on equal terms.
        threads: TensorFlow threads, the trial's CPU share.
        gpus: The trial's GPU share (0 on CPU).
    """
    quiet_tensorflow()
    set_threads(threads)
    if gpus > 0:
        _share_gpus()

    import keras
    from mnist_hpo.search.training.fit import train
    from mnist_hpo.search.tune.reporter import TuneReporter
    from ray import tune

    # A reused worker still holds the previous trial's layers and graphs.
    keras.backend.clear_session()
    model, done = None, 0
    checkpoint = tune.get_checkpoint()  # the latest epoch's, when resumed or retried
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = json.loads((Path(folder) / CHECKPOINT_STATE).read_text())
            model = keras.models.load_model(Path(folder) / CHECKPOINT_MODEL, safe_mode=True)
        done = int(state["epoch"])
        log.info("resuming after epoch %d", done)
    if done >= epochs:
        return
    train(config, split, epochs=epochs, seed=seed, model=model, initial_epoch=done,
          callbacks=[TuneReporter()])


def _share_gpus() -> None:
    """Let several trials share one GPU: allocate memory as needed, not all of it up front."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        # RuntimeError: a reused worker whose runtime started with growth already set.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
