"""``mnist-hpo export``: the best (or a chosen) trial's model, verified, for serving.

The model is the checkpoint of the trial's best epoch (the one the leaderboard ranks). Three
checks, in order: it must score the recorded val_accuracy of that epoch on the search's own
validation split (so the file is the model that was ranked, not another epoch's); written
as ``model.keras`` and a TensorFlow SavedModel (with ``config.json`` and ``metrics.json``),
both must reload in a fresh process and predict what the model in memory predicts; then it
is evaluated once on the test set. Keras and TensorFlow are imported only here.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_hpo.search.experiment import Experiment, ExperimentError, TrialRecord
from mnist_hpo.search.experiment.names import CHECKPOINT_MODEL

log = logging.getLogger(__name__)

PREDICTIONS = "test_predictions.npz"
#: What the exported models take, as the tutorial's network did (``search.training.scale_images``).
INPUT = "float32 images of shape (N, 28, 28, 1), pixel values divided by 255"
TOLERANCE = 1e-5  # largest difference in a predicted probability between the reloads
#: Largest difference between the re-evaluated and the recorded val_accuracy: under one
#: image in 10,000 (the model that was ranked scores exactly its record again).
VAL_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """The model does not score what its record says, or its exported files do not reload
    or do not predict what it does: exit 1."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    trial: int
    epoch: int
    val_accuracy: float
    test_accuracy: float
    max_difference: float


def start_tensorflow_as_recorded(experiment: Experiment) -> None:
    """Start TensorFlow with the CPU kernels the search's workers used (its manifest's
    ``tensorflow``; a user's own ``TF_ENABLE_ONEDNN_OPTS`` wins): oneDNN's sums and Eigen's
    differ in the last bits, and the checks below compare against the workers' records."""
    from mnist_hpo.search.training.runtime import follow_recorded_kernels, start_tensorflow

    follow_recorded_kernels(experiment.manifest.get("tensorflow", {}))
    start_tensorflow()  # without its start-up chatter


def kernels_hint(experiment: Experiment) -> str:
    """What to try when a checkpoint misses its record in an experiment that does not say
    which kernels trained it (written before 2026-12-06, when its workers loaded TensorFlow's
    default: Eigen's kernels on CPUs without AVX-512 VNNI); else nothing."""
    if "tensorflow" in experiment.manifest:
        return ""
    return ("; the experiment does not record its TensorFlow kernels (written before "
            "mnist-hpo did): if it was trained with Eigen's, try again with "
            "TF_ENABLE_ONEDNN_OPTS=0")


def choose_trial(experiment: Experiment, number: int | None, flag: str = "--trial"
                 ) -> tuple[TrialRecord, Path]:
    """The best trial, or trial ``number``, and the ``model.keras`` of its best epoch.

    ``flag``: the option that named the trial, for the error lines (``--warm-starts``).
    """
    trial = experiment.best() if number is None else experiment.trial(number)
    which = f"--trial {trial.number}" if flag == "--trial" else f"{flag}: trial {trial.number}"
    best = trial.best_epoch
    if best is None:
        raise ExperimentError(f"{which}: it reported no val_accuracy yet; nothing to export")
    model = trial.checkpoint / CHECKPOINT_MODEL if trial.checkpoint else None
    if model is None or not model.exists():
        kept = ", ".join(str(e) for e in sorted(trial.checkpoints)) or "none"
        raise ExperimentError(f"{which}: no checkpoint of its best epoch "
                              f"{int(best['epoch'])} in {trial.path} (checkpointed epochs: "
                              f"{kept})")
    return trial, model


def export_trial(experiment: Experiment, out: Path, number: int | None = None,
                 data: str | None = None) -> ExportResult:
    """Export, verify and test the best epoch of one trial (see the module docstring).

    Before anything is written, the model is evaluated on the search's validation images
    and must score the val_accuracy recorded for its epoch (within ``VAL_TOLERANCE``): the
    check that the file is the model the leaderboard ranked.

    Raises:
        ExperimentError: bad input (no such trial, no checkpoint).
        UsageError: ``out`` exists and is not empty.
        DataError: the data is not the file the search used.
        ExportError: the model does not score its record, or a reload failed or predicted
            differently.
    """
    from mnist_hpo.search.outputs import check_out_dir, claim_out_dir, write_json

    trial, checkpoint = choose_trial(experiment, number)
    check_out_dir(out)
    from mnist_hpo.search.training.data import (  # numpy only
        recorded_split,
        resolve_source,
        scale_images,
    )

    source = data or recorded_source(experiment) or resolve_source()
    split = recorded_split(experiment.manifest["data"], source)
    start_tensorflow_as_recorded(experiment)
    import keras

    model = keras.models.load_model(checkpoint, safe_mode=True)  # no code runs on load
    best = trial.best_epoch or {}
    epoch, recorded = int(best["epoch"]), float(best["val_accuracy"])
    val_accuracy = accuracy(model.predict(scale_images(split.x_val), batch_size=512,
                                           verbose=0), split.y_val)
    if not abs(val_accuracy - recorded) <= VAL_TOLERANCE:
        raise ExportError(f"trial {trial.number}, epoch {epoch}: the checkpoint scores "
                          f"val_accuracy {val_accuracy:.4f} on the search's "
                          f"{len(split.y_val):,} validation images, its record says "
                          f"{recorded:.4f} ({checkpoint.parent}); nothing was exported"
                          f"{kernels_hint(experiment)}")

    claim_out_dir(out)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    x = scale_images(split.x_test)
    probs = model.predict(x, batch_size=512, verbose=0)
    difference = verify_in_fresh_process(out, x, probs)

    test_accuracy = accuracy(probs, split.y_test)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(x)), split.y_test], 1e-12, 1))))
    write_predictions(out, probs, split.y_test, split.x_test)
    write_json(out / "config.json", trial.params)
    write_json(out / "metrics.json", {
        "trial": trial.number, "epoch": epoch, "checkpoint": str(checkpoint.parent),
        "val_accuracy": recorded, "val_accuracy_reevaluated": val_accuracy,
        "validation_images": len(split.y_val),
        "test_accuracy": test_accuracy, "test_loss": loss, "test_images": len(x), "input": INPUT,
        "data": {"source": source, "sha256": experiment.manifest["data"].get("sha256")},
        "reload_max_difference": difference, "experiment": str(experiment.path),
    })
    return ExportResult(out, trial.number, epoch, val_accuracy, test_accuracy, difference)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose most probable class is the label."""
    return float(np.mean(probs.argmax(axis=1) == labels))


def write_predictions(out: Path, probs: np.ndarray, labels: np.ndarray,
                      images: np.ndarray) -> None:
    """The test labels and predictions, and the first misclassified digits, for the report."""
    predicted = probs.argmax(axis=1)
    wrong = np.flatnonzero(predicted != labels)
    np.savez_compressed(out / PREDICTIONS, y_true=labels, y_pred=predicted,
                        wrong_images=images[wrong[:36]])


def recorded_source(experiment: Experiment) -> str | None:
    """The search's data file, if it is still where the search read it."""
    source = experiment.manifest.get("data", {}).get("source")
    return source if source and Path(source).exists() else None


def verify_in_fresh_process(out: Path, x: np.ndarray, expected: np.ndarray) -> float:
    """Reload ``out``'s model.keras and SavedModel in a new Python process (as a server
    would) and check both predict ``expected`` on ``x``; the largest difference.

    Raises:
        ExportError: a reload failed or predicted differently (beyond ``TOLERANCE``).
    """
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-verify-") as tmp:
        images, result = Path(tmp) / "x.npy", Path(tmp) / "predictions.npz"
        np.save(images, x)
        proc = subprocess.run([sys.executable, "-m", "mnist_hpo.reports.verify", str(out),
                               str(images), str(result)],
                              capture_output=True, text=True, check=False)
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
