"""The numbers behind each report figure, computed from trial records (drawn in plots.py)."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mnist_hpo.search.experiment import Experiment, TrialRecord, TrialState

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Curves:
    """One trial's per-epoch training and validation metrics (the tutorial's two figures)."""

    trial: int
    epochs: list[int]
    accuracy: list[float]
    val_accuracy: list[float]
    loss: list[float]
    val_loss: list[float]


@dataclass(frozen=True)
class History:
    """val_accuracy of each trial in the order they were created, and the best so far."""

    trials: list[int]
    scores: list[float]
    best_so_far: list[float]
    stopped_early: list[bool]


@dataclass(frozen=True)
class ParamEffect:
    """One searched parameter: its importance and its value against val_accuracy."""

    name: str
    importance: float | None
    values: list[Any] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


def curves(trial: TrialRecord) -> Curves:
    """Per-epoch curves of one trial."""
    e = trial.epochs
    return Curves(trial.number, [int(r["epoch"]) for r in e], [r["accuracy"] for r in e],
                  [r["val_accuracy"] for r in e], [r["loss"] for r in e],
                  [r["val_loss"] for r in e])


def top_curves(experiment: Experiment, k: int = 5) -> list[Curves]:
    """The ``k`` best trials' curves, best first."""
    ranked = sorted(experiment.finished, key=lambda t: -(t.best_val_accuracy or 0.0))
    return [curves(t) for t in ranked[:k]]


def history(experiment: Experiment) -> History:
    """Search history over scored trials, in trial order."""
    scored = [t for t in experiment.trials if t.best_val_accuracy is not None]
    scores = [float(t.best_val_accuracy or 0.0) for t in scored]
    best, running = [], -math.inf
    for s in scores:
        running = max(running, s)
        best.append(running)
    return History([t.number for t in scored], scores, best,
                   [t.state in (TrialState.STOPPED, TrialState.CUT) for t in scored])


def param_effects(experiment: Experiment) -> list[ParamEffect]:
    """Each searched parameter's importance (Optuna's evaluator over the finished trials,
    ``None`` when it cannot be computed) and its values against val_accuracy."""
    searched = experiment.manifest.get("searched") or []
    finished = experiment.finished
    importances = _importances(experiment, searched)
    effects = []
    for name in searched:
        pairs = [(t.params[name], float(t.best_val_accuracy or 0.0)) for t in finished
                 if name in t.params]
        effects.append(ParamEffect(name, importances.get(name), [v for v, _ in pairs],
                                   [s for _, s in pairs]))
    return sorted(effects, key=lambda e: -(e.importance if e.importance is not None else -1))


def _importances(experiment: Experiment, searched: list[str]) -> dict[str, float]:
    """PED-ANOVA importances over :func:`importance_study`; empty when they cannot be
    computed (under two completed trials, or every one scored the same)."""
    import optuna

    study = importance_study(experiment, searched)
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(completed) < 2:
        return {}
    try:
        # PED-ANOVA, Optuna 5's default evaluator: no scikit-learn needed. It warns when a
        # value range holds under two trials, which small searches always have.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (ValueError, RuntimeError):
        return {}  # e.g. every trial scored the same: nothing to attribute


def importance_study(experiment: Experiment, searched: list[str]) -> optuna.Study:
    """An in-memory Optuna study of the experiment's ended trials, each told as it ended
    (:func:`mnist_hpo.search.experiment.optuna_trials.to_optuna_trial`): importance is
    computed over the completed ones, not over early-stopped trials' short-run scores."""
    import optuna

    from mnist_hpo.search.experiment.optuna_trials import to_optuna_trial
    from mnist_hpo.spaces import space_from_dict

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    space_yaml = {k: v for k, v in experiment.manifest.get("space", {}).items()
                  if k in ("name", "description", "epochs", "params")}
    try:
        space = space_from_dict(space_yaml, source="search.json")
    except ValueError:
        return study
    distributions = {k: space.domains[k].to_optuna() for k in searched if k in space.domains}
    for record in experiment.trials:
        if record.ended:
            study.add_trial(to_optuna_trial(record, distributions))
    return study
