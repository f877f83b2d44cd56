"""``mnist-hpo export --ensemble K|auto``: the search's best trials as one averaged model.

The candidates are the best trials' kept best-epoch checkpoints, read from the experiment
folder alone (no Ray). Each must score its recorded val_accuracy on the search's validation
split, as a single export must; one that is missing, unreadable or scores otherwise is
skipped with a warning. Greedy selection (``reports.ensemble``) chooses the members on the
validation images only. The result is one Keras model of built-in layers (each member as a
nested model, its softmax scaled by its weight, the scaled outputs added), so it reloads
with plain ``keras.models.load_model(..., safe_mode=True)``. Written as ``model.keras`` and
a SavedModel, reloaded in a fresh process and checked to predict what the members predict,
it is then evaluated once on the test set, beside the best single trial, with what each
costs (parameters, file size, time per image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_hpo.reports.ensemble import AUTO_MEMBERS, combine, greedy_selection, score
from mnist_hpo.reports.export import (
    INPUT,
    VAL_TOLERANCE,
    accuracy,
    choose_trial,
    recorded_source,
    verify_in_fresh_process,
    write_predictions,
)
from mnist_hpo.search.experiment import Experiment, ExperimentError, TrialRecord

#: Trials considered, the best by recorded val_accuracy first: the rest are never picked
#: in practice and each costs a load and two predictions.
CANDIDATES = 20
ENSEMBLE_DIR = "export-ensemble"


@dataclass(frozen=True)
class Candidate:
    trial: int
    epoch: int
    val_accuracy: float
    model: Any  # keras.Model, loaded without its optimizer
    val_probs: np.ndarray


@dataclass
class EnsembleResult:
    """What ``export_ensemble`` wrote and measured (also in ``metrics.json``)."""

    out: Path
    metrics: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


def export_ensemble(experiment: Experiment, out: Path, max_members: int | None,
                    data: str | None = None) -> EnsembleResult:
    """Select, build, verify and test an ensemble of the experiment's trials.

    Args:
        max_members: At most this many distinct members; ``None``: ``--ensemble auto``
            (at most :data:`AUTO_MEMBERS`).

    Raises:
        ExperimentError: fewer than two usable trials.
        UsageError: ``out`` exists and is not empty.
        DataError: the data is not the file the search used.
        ExportError: the written model does not reload or does not predict what its
            members predict.
    """
    from mnist_hpo.search.outputs import check_out_dir, claim_out_dir, write_json
    from mnist_hpo.search.training.data import recorded_split, resolve_source, scale_images

    check_out_dir(out)
    ranked = sorted(experiment.finished, key=lambda t: (-(t.best_val_accuracy or 0), t.number))
    if len(ranked) < 2:
        raise ExperimentError(f"--ensemble: {experiment.path} has {len(ranked)} trial(s) with "
                              f"a val_accuracy; an ensemble needs at least 2")
    source = data or recorded_source(experiment) or resolve_source()
    split = recorded_split(experiment.manifest["data"], source)
    from mnist_hpo.search.training.runtime import start_tensorflow

    start_tensorflow()  # without its start-up chatter
    x_val, x_test = scale_images(split.x_val), scale_images(split.x_test)
    candidates, skipped = _load_candidates(experiment, ranked[:CANDIDATES], x_val, split.y_val)
    if len(candidates) < 2:
        raise ExperimentError(f"--ensemble: {len(candidates)} usable trial(s) in "
                              f"{experiment.path} (skipped: {'; '.join(skipped) or 'none'}); "
                              f"an ensemble needs at least 2")

    selection = greedy_selection([c.val_probs for c in candidates], split.y_val,
                                 max_members=max_members or AUTO_MEMBERS)
    members = [candidates[i] for i in selection.weights]
    weights = list(selection.weights.values())
    model = build_ensemble([c.model for c in members], weights, [c.trial for c in members])

    claim_out_dir(out)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    best = candidates[0]
    test_probs = {c.trial: c.model.predict(x_test, batch_size=512, verbose=0)
                  for c in {c.trial: c for c in [best, *members]}.values()}
    expected = combine([test_probs[c.trial] for c in members], dict(enumerate(weights)))
    difference = verify_in_fresh_process(out, x_test, expected)
    write_predictions(out, expected, split.y_test, split.x_test)

    from mnist_hpo.search.training.cost import model_cost

    val_probs = combine([c.val_probs for c in members], dict(enumerate(weights)))
    metrics = {
        "ensemble": {"members": len(members), "rounds": len(selection.rounds),
                     "val_accuracy": score(val_probs, split.y_val).accuracy,
                     "val_log_loss": score(val_probs, split.y_val).log_loss,
                     "test_accuracy": accuracy(expected, split.y_test),
                     "cost": model_cost(model, images=x_test[:256])},
        "best_single": {"trial": best.trial, "epoch": best.epoch,
                        "val_accuracy": best.val_accuracy,
                        "test_accuracy": accuracy(test_probs[best.trial], split.y_test),
                        "cost": model_cost(best.model, images=x_test[:256])},
        "members": [{"trial": c.trial, "epoch": c.epoch, "weight": w,
                     "val_accuracy": c.val_accuracy,
                     "test_accuracy": accuracy(test_probs[c.trial], split.y_test)}
                    for c, w in zip(members, weights, strict=True)],
        "selection": {"by": "validation accuracy, then log loss (greedy, with replacement)",
                      "max_members": max_members or AUTO_MEMBERS,
                      "auto": max_members is None, "candidates": len(candidates),
                      "validation_images": len(split.y_val)},
        "skipped": skipped, "test_images": len(split.y_test), "input": INPUT,
        "reload_max_difference": difference, "experiment": str(experiment.path),
        "data": {"source": source, "sha256": experiment.manifest["data"].get("sha256")},
    }
    write_json(out / "config.json", {f"trial_{c.trial}": _params(experiment, c.trial)
                                     for c in members})
    write_json(out / "metrics.json", metrics)
    return EnsembleResult(out, metrics, skipped)


def build_ensemble(models: list[Any], weights: list[float], trials: list[int]) -> Any:
    """One functional model: each member nested under the name ``trial_N``, its softmax
    scaled by its weight, the scaled outputs added (built-in layers only)."""
    import keras

    image = keras.Input((28, 28, 1), name="image")
    outputs = []
    for model, weight, trial in zip(models, weights, trials, strict=True):
        member = keras.Sequential(model.layers, name=f"trial_{trial}")
        outputs.append(keras.layers.Rescaling(weight, name=f"weight_{trial}")(member(image)))
    merged = outputs[0] if len(outputs) == 1 else keras.layers.Add(name="average")(outputs)
    return keras.Model(image, merged, name="mnist_hpo_ensemble")


def _load_candidates(experiment: Experiment, trials: list[TrialRecord], x_val: np.ndarray,
                     y_val: np.ndarray) -> tuple[list[Candidate], list[str]]:
    """Each trial's best checkpoint, if it loads and scores its record; else a reason."""
    import keras

    candidates: list[Candidate] = []
    skipped: list[str] = []
    for trial in trials:
        try:
            _, path = choose_trial(experiment, trial.number)
            model = keras.models.load_model(path, safe_mode=True, compile=False)
        except Exception as err:
            # Missing, truncated, not a zip, not a Keras model: each a reason to skip this
            # trial, never to lose the others.
            skipped.append(f"trial {trial.number}: {str(err).split(': ', 1)[-1]}")
            continue
        probs = model.predict(x_val, batch_size=512, verbose=0)
        recorded = float((trial.best_epoch or {})["val_accuracy"])
        scored = accuracy(probs, y_val)
        if not abs(scored - recorded) <= VAL_TOLERANCE:
            skipped.append(f"trial {trial.number}: its checkpoint scores {scored:.4f}, its "
                           f"record says {recorded:.4f}")
            continue
        epoch = int((trial.best_epoch or {})["epoch"])
        candidates.append(Candidate(trial.number, epoch, recorded, model, probs))
    return candidates, skipped


def _params(experiment: Experiment, number: int) -> dict[str, Any]:
    return dict(experiment.trial(number).params)
