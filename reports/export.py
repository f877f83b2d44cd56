"""``mnist-hpo export``: the best (or a chosen) trial's model, verified, for serving.

Writes ``model.keras`` and a TensorFlow SavedModel, with ``config.json`` and
``metrics.json``; then reloads both in a fresh process and checks that they predict what the
model in memory predicts, and evaluates once on the test set. Keras and TensorFlow are
imported only here, when an export runs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reports.records import Experiment, ExperimentError, TrialRecord

log = logging.getLogger(__name__)

PREDICTIONS = "test_predictions.npz"
#: What the exported models take, as the tutorial's network did (``search.scale_images``).
INPUT = "float32 images of shape (N, 28, 28, 1), pixel values divided by 255"
TOLERANCE = 1e-5  # largest difference in a predicted probability between the reloads


class ExportError(RuntimeError):
    """The exported files do not reload or do not predict what the trained model does."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    trial: int
    test_accuracy: float
    max_difference: float


def choose_trial(experiment: Experiment, number: int | None) -> tuple[TrialRecord, Path]:
    """The best trial, or trial ``number``, and its checkpointed ``model.keras``."""
    trial = experiment.best() if number is None else experiment.trial(number)
    model = trial.checkpoint / "model.keras" if trial.checkpoint else None
    if model is None or not model.exists():
        raise ExperimentError(f"--trial {trial.number}: no checkpointed model in {trial.path}")
    return trial, model


def export_trial(experiment: Experiment, out: Path, number: int | None = None,
                 data: str | None = None) -> ExportResult:
    """Export, verify and test one trial's model (see the module docstring).

    Raises:
        ExperimentError: bad input (no such trial, no checkpoint, ``out`` not empty).
        ExportError: a reload failed or predicted differently.
    """
    trial, checkpoint = choose_trial(experiment, number)
    if out.exists() and any(out.iterdir()):
        raise ExperimentError(f"--out {out}: already exists and is not empty; choose a new "
                              f"folder (nothing was overwritten)")
    from search import load_mnist, scale_images  # numpy only: the data, not the driver

    mnist = load_mnist(data or _recorded_source(experiment))
    expected_sha = experiment.manifest.get("data", {}).get("sha256")
    if expected_sha and mnist.sha256 and mnist.sha256 != expected_sha:
        log.warning("the test data (%s) is not the file the search used (SHA-256 differs)",
                    mnist.source)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    model = keras.models.load_model(checkpoint, safe_mode=True)  # no code runs on load
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    x = scale_images(mnist.x_test)
    probs = model.predict(x, batch_size=512, verbose=0)
    difference = _verify_in_fresh_process(out, x, probs)

    predicted = probs.argmax(axis=1)
    accuracy = float(np.mean(predicted == mnist.y_test))
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(x)), mnist.y_test], 1e-12, 1))))
    wrong = np.flatnonzero(predicted != mnist.y_test)
    np.savez_compressed(out / PREDICTIONS, y_true=mnist.y_test, y_pred=predicted,
                        wrong_images=mnist.x_test[wrong[:36]])
    best = trial.best_epoch or {}
    _write_json(out / "config.json", trial.params)
    _write_json(out / "metrics.json", {
        "trial": trial.number, "checkpoint": str(checkpoint.parent),
        "val_accuracy": best.get("val_accuracy"), "epoch": best.get("epoch"),
        "test_accuracy": accuracy, "test_loss": loss, "test_images": len(x), "input": INPUT,
        "data": {"source": mnist.source, "sha256": mnist.sha256},
        "reload_max_difference": difference, "experiment": str(experiment.path),
    })
    return ExportResult(out, trial.number, accuracy, difference)


def _recorded_source(experiment: Experiment) -> str | None:
    source = experiment.manifest.get("data", {}).get("source")
    return source if source and Path(source).exists() else None


def _verify_in_fresh_process(out: Path, x: np.ndarray, expected: np.ndarray) -> float:
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-verify-") as tmp:
        images, result = Path(tmp) / "x.npy", Path(tmp) / "predictions.npz"
        np.save(images, x)
        proc = subprocess.run([sys.executable, "-m", "reports.verify", str(out), str(images),
                               str(result)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise ExportError(f"{out}: the exported model does not reload in a fresh "
                              f"process: {last}")
        with np.load(result) as reloaded:
            diffs = {name: float(np.max(np.abs(reloaded[name] - expected)))
                     for name in ("keras", "saved_model")}
    for name, diff in diffs.items():
        if not diff <= TOLERANCE:
            raise ExportError(f"{out}: the reloaded {name} model predicts differently from "
                              f"the trained one (largest difference {diff:.2e} > {TOLERANCE})")
    return max(diffs.values())


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
