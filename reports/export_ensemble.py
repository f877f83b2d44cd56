"""``mnist-hpo export --ensemble K|auto``, ``--trial N,M,...``, ``--warm-starts``: several
trials as one averaged model.

The candidates are trials' kept best-epoch checkpoints, read from the experiment folder
alone (no Ray). Each must score its recorded val_accuracy on the search's validation split,
as a single export must. With ``--ensemble``, only trials within noise of the best are
considered, greedy selection chooses among them and pruning keeps the members the
validation images vouch for (``reports.ensemble_pruning``: the rule, and the
accuracy-versus-members curve written to ``metrics.json``); a candidate that is missing,
unreadable or scores otherwise is skipped with a warning. With a list of trials (or the
search's warm starts) the ensemble is exactly those trials with equal weights: nothing is
fitted to the validation images, so its val_accuracy is not flattered by a choice; a listed
trial that does not verify fails the export.

The result is one Keras model of built-in layers (each member as a nested model, its
softmax scaled by its weight, the scaled outputs added), so it reloads with plain
``keras.models.load_model(..., safe_mode=True)``. Written as ``model.keras`` and a
SavedModel, reloaded in a fresh process and checked to predict what the members predict, it
is then evaluated once on the test set, beside the best single candidate, with what each
costs (parameters, file size, time per image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_hpo.reports.ensemble import combine, score
from mnist_hpo.reports.ensemble_pruning import (
    NOISE_Z,
    curve,
    eligibility_threshold,
    eligible,
    pick,
)
from mnist_hpo.reports.ensemble_summary import curve_rows
from mnist_hpo.reports.export import (
    INPUT,
    VAL_TOLERANCE,
    ExportError,
    accuracy,
    choose_trial,
    kernels_hint,
    recorded_source,
    start_tensorflow_as_recorded,
    verify_in_fresh_process,
    write_predictions,
)
from mnist_hpo.search.experiment import Experiment, ExperimentError, TrialRecord

#: Eligible trials considered, the best by recorded val_accuracy first: each costs a load
#: and two predictions, and greedy selection rarely reaches past the first few.
CANDIDATES = 20
ENSEMBLE_DIR = "export-ensemble"
WARM_STARTS_DIR = "export-warm-starts"


@dataclass(frozen=True)
class Candidate:
    trial: int
    epoch: int
    val_accuracy: float
    model: Any  # keras.Model, loaded without its optimizer
    val_probs: np.ndarray
    cost: dict[str, float]  # as measured on the worker that trained it (may be empty)


@dataclass
class EnsembleResult:
    """What ``export_ensemble`` wrote and measured (also in ``metrics.json``)."""

    out: Path
    metrics: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


def listed_dir(numbers: list[int]) -> str:
    """The default folder of an ensemble of listed trials: ``export-trials-1-4-7``."""
    return "export-trials-" + "-".join(str(n) for n in numbers)


def warm_start_trials(experiment: Experiment) -> list[int]:
    """The trials that ran the search's warm starts (``search.json``'s ``warm_start``).

    Optuna asks the enqueued warm starts before anything else, so each is the first trial
    whose parameters match it; a warm start the search never reached is left out.

    Raises:
        ExperimentError: the search had no warm start, or none of them ran.
    """
    points = experiment.manifest.get("warm_start") or []
    if not points:
        raise ExperimentError(f"--warm-starts: {experiment.path} has no warm start "
                              f"(search.json's warm_start is empty: the search ran with "
                              f"--no-warm-start, or its space cannot produce the seed "
                              f"network)")
    found: list[int] = []
    for point in points:
        match = next((t.number for t in experiment.trials if t.number not in found
                      and all(t.params.get(k) == v for k, v in point.items())), None)
        if match is not None:
            found.append(match)
    if not found:
        raise ExperimentError(f"--warm-starts: none of the {len(points)} warm starts of "
                              f"{experiment.path} has a trial folder yet")
    return found


def export_ensemble(experiment: Experiment, out: Path, max_members: int | None = None,
                    data: str | None = None, *, trials: list[int] | None = None,
                    flag: str = "--ensemble") -> EnsembleResult:
    """Select (or take), build, verify and test an ensemble of the experiment's trials.

    Args:
        max_members: ``--ensemble K``: at most K members; ``None``: ``--ensemble auto``.
        trials: Exactly these trials, equal weights (``--trial N,M``, ``--warm-starts``);
            ``max_members`` is then ignored.
        flag: The option that chose the trials, for the error lines.

    Raises:
        ExperimentError: an unknown listed trial or one without a checkpoint; no usable
            candidate, or fewer than two when two or more were eligible.
        UsageError: ``out`` exists and is not empty.
        DataError: the data is not the file the search used.
        ExportError: a listed trial's checkpoint does not load or score its record; the
            written model does not reload or does not predict what its members predict.
    """
    from mnist_hpo.search.outputs import check_out_dir, claim_out_dir, write_json
    from mnist_hpo.search.training.data import recorded_split, resolve_source, scale_images

    listed = None
    if trials:
        for number in trials:  # an unknown trial first, then one without a checkpoint
            experiment.trial(number)
        listed = [choose_trial(experiment, n, flag)[0] for n in trials]
    check_out_dir(out)
    ranked = sorted(experiment.finished, key=lambda t: (-(t.best_val_accuracy or 0), t.number))
    if listed is None and len(ranked) < 2:
        raise ExperimentError(f"--ensemble: {experiment.path} has {len(ranked)} trial(s) with "
                              f"a val_accuracy; an ensemble needs at least 2")
    source = data or recorded_source(experiment) or resolve_source()
    split = recorded_split(experiment.manifest["data"], source)
    images = len(split.y_val)
    start_tensorflow_as_recorded(experiment)
    x_val, x_test = scale_images(split.x_val), scale_images(split.x_test)
    selection: dict[str, Any]
    curve_data: list[dict[str, Any]] | None = None
    if listed is not None:
        candidates, skipped = _load_candidates(experiment, listed, x_val, split.y_val)
        if skipped:
            raise ExportError(f"{flag}: {skipped[0]}; nothing was exported")
        weights = {i: 1 / len(candidates) for i in range(len(candidates))}
        what = "the warm starts" if flag == "--warm-starts" else "the listed trials"
        selection = {"by": f"{what} ({flag}), equal weights",
                     "trials": [t.number for t in listed], "validation_images": images}
    else:
        floor = eligibility_threshold(float(ranked[0].best_val_accuracy or 0), images)
        considered = [ranked[i] for i in eligible([t.best_val_accuracy or 0 for t in ranked],
                                                  images)]
        candidates, skipped = _load_candidates(experiment, considered[:CANDIDATES], x_val,
                                               split.y_val)
        if len(candidates) < min(2, len(considered)) or not candidates:
            raise ExperimentError(f"--ensemble: {len(candidates)} usable trial(s) in "
                                  f"{experiment.path} (skipped: {'; '.join(skipped) or 'none'})"
                                  f"; an ensemble needs at least 2")
        rows = curve([c.val_probs for c in candidates], split.y_val, max_members)
        row = pick(rows, max_members)
        weights = row.pruned.weights
        curve_data = curve_rows(rows, [(c.trial, c.cost) for c in candidates], row)
        selection = {
            "by": "validation accuracy, then log loss (greedy, with replacement), pruned",
            "rule": "eligible: val_accuracy >= eligible_from; a member stays if removing it "
                    f"loses >= {NOISE_Z:g} standard errors (McNemar) of the images the two "
                    "ensembles disagree on; the whole must beat the best trial alone by the "
                    "same test; --ensemble K: the most accurate pruned row up to K",
            "noise_z": NOISE_Z, "eligible_from": floor,
            "eligible": len(considered), "not_eligible": len(ranked) - len(considered),
            "candidates": len(candidates), "validation_images": images,
            "max_members": max_members, "auto": max_members is None,
            "row": row.cap, "greedy_members": len(row.greedy.weights),
            "rounds": len(row.greedy.rounds),
            "pruned_members": len(weights),
            "dropped": curve_data[row.cap - 1]["pruned"]["dropped"],
            "against_best": curve_data[row.cap - 1]["pruned"]["against_best"]}

    members = [candidates[i] for i in weights]
    shares = list(weights.values())
    model = build_ensemble([c.model for c in members], shares, [c.trial for c in members])

    claim_out_dir(out)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), format="tf_saved_model", verbose=False)
    best = max(candidates, key=lambda c: c.val_accuracy)  # ties: the better-ranked
    test_probs = {c.trial: c.model.predict(x_test, batch_size=512, verbose=0)
                  for c in {c.trial: c for c in [best, *members]}.values()}
    expected = combine([test_probs[c.trial] for c in members], dict(enumerate(shares)))
    difference = verify_in_fresh_process(out, x_test, expected)
    write_predictions(out, expected, split.y_test, split.x_test)

    from mnist_hpo.search.training.cost import model_cost

    val = score(combine([c.val_probs for c in members], dict(enumerate(shares))), split.y_val)
    metrics = {
        "ensemble": {"members": len(members), "val_accuracy": val.accuracy,
                     "val_log_loss": val.log_loss,
                     "test_accuracy": accuracy(expected, split.y_test),
                     "cost": model_cost(model, images=x_test[:256])},
        "best_single": {"trial": best.trial, "epoch": best.epoch,
                        "val_accuracy": best.val_accuracy,
                        "test_accuracy": accuracy(test_probs[best.trial], split.y_test),
                        "cost": model_cost(best.model, images=x_test[:256])},
        "members": [{"trial": c.trial, "epoch": c.epoch, "weight": w,
                     "val_accuracy": c.val_accuracy,
                     "test_accuracy": accuracy(test_probs[c.trial], split.y_test)}
                    for c, w in zip(members, shares, strict=True)],
        "selection": selection, "curve": curve_data,
        "skipped": skipped, "test_images": len(split.y_test), "input": INPUT,
        "reload_max_difference": difference, "experiment": str(experiment.path),
        "data": {"source": source, "sha256": experiment.manifest["data"].get("sha256")},
    }
    write_json(out / "config.json", {f"trial_{c.trial}": dict(experiment.trial(c.trial).params)
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
                           f"record says {recorded:.4f}{kernels_hint(experiment)}")
            continue
        epoch = int((trial.best_epoch or {})["epoch"])
        candidates.append(Candidate(trial.number, epoch, recorded, model, probs,
                                    dict(trial.cost)))
    return candidates, skipped
