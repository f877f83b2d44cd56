"""The systems of the search-quality benchmark that run without Ray: Keras Tuner's
Hyperband, a plain Optuna loop with Optuna's own pruner, the one-epoch baseline and the seed
network alone.

Both train exactly what an mnist-hpo trial trains: the same space (sampled through the same
define-by-run function), model builder, ``tf.data`` pipeline, augmentation, split and seed.
Only the search algorithm differs. Every epoch trained goes into a :class:`Ledger`, in the
order trained, until the budget of trial-epochs is spent; the systems are compared on that.
Each tool runs with its own defaults (Hyperband and HyperbandPruner: factor 3), as a user
would run it, with the same maximum epochs per trial.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from mnist_hpo.search.training.data import Split
from mnist_hpo.search.training.fit import STEPS_PER_EXECUTION, train, training_steps
from mnist_hpo.search.training.model import build_model
from mnist_hpo.spaces import Space, resolve_config


@dataclass
class Ledger:
    """Every epoch a system trained, in order, up to ``budget`` epochs."""

    budget: int
    curve: list[float] = field(default_factory=list)  # val_accuracy of each epoch
    trials: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → config, curve
    seen: set[tuple[str, int]] = field(default_factory=set)
    best: tuple[float, dict[str, Any]] = (-1.0, {})
    started: float = field(default_factory=time.perf_counter)

    @property
    def spent(self) -> bool:
        return len(self.curve) >= self.budget

    def record(self, trial: str, val_accuracy: float, config: dict[str, Any],
               epoch: int | None = None) -> None:
        """One epoch's result; ``epoch`` given, a result seen before is not counted again."""
        if self.spent:  # a concurrent trial's epoch that ended after the budget
            return
        if epoch is not None:
            if (trial, epoch) in self.seen:
                return
            self.seen.add((trial, epoch))
        self.curve.append(val_accuracy)
        self.trials.setdefault(trial, {"config": dict(config), "val_accuracy": []})[
            "val_accuracy"].append(val_accuracy)
        if val_accuracy > self.best[0]:
            self.best = (val_accuracy, dict(config))

    def summary(self) -> dict[str, Any]:
        return {"curve": self.curve, "trials": len(self.trials),
                "best_val_accuracy": self.best[0], "best_config": self.best[1],
                "wall_s": time.perf_counter() - self.started,
                # Each trial's configuration and epochs, in the order trials started: what
                # the search spent its budget on (which trials ran long, which stopped).
                "trial_curves": list(self.trials.values())}


class LedgerCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Records each epoch; ends training once the budget is spent."""

    def __init__(self, ledger: Ledger, trial: str, config: dict[str, Any]) -> None:
        super().__init__()
        self.ledger, self.trial, self.config = ledger, trial, config

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.ledger.record(self.trial, float((logs or {})["val_accuracy"]), self.config)
        if self.ledger.spent:
            self.model.stop_training = True


def run_optuna(space: Space, split: Split, *, epochs: int, budget: int, seed: int) -> Ledger:
    """Optuna's TPE (defaults) and HyperbandPruner in a plain ``study.optimize`` loop."""
    import optuna

    ledger = Ledger(budget)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs))

    class Pruning(LedgerCallback):
        def __init__(self, trial: optuna.Trial, config: dict[str, Any]) -> None:
            super().__init__(ledger, str(trial.number), config)
            self.optuna_trial = trial

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            super().on_epoch_end(epoch, logs)
            if ledger.spent:
                study.stop()
            self.optuna_trial.report(float((logs or {})["val_accuracy"]), epoch + 1)
            if not ledger.spent and self.optuna_trial.should_prune():
                raise optuna.TrialPruned()

    def objective(trial: optuna.Trial) -> float:
        config = space.suggest(trial)
        keras.backend.clear_session()
        result = train(config, split, epochs=epochs, seed=seed, callbacks=[Pruning(trial, config)])
        return max(row["val_accuracy"] for row in result.history)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=100_000)
    return ledger


class KerasTunerTrial:
    """Keras Tuner's ``hp`` behind the Optuna calls ``Space.suggest`` makes."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        return int(self.hp.Int(name, low, high, step=step, sampling="log" if log else "linear"))

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return float(self.hp.Float(name, low, high, step=step,
                                   sampling="log" if log else "linear"))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        if all(isinstance(c, bool) for c in choices):  # hp.Choice gives 0/1 for booleans
            value = self.hp.Boolean(name)
            return value if value in choices else choices[0]
        return self.hp.Choice(name, list(choices))


def run_keras_tuner(space: Space, split: Split, *, epochs: int, budget: int, seed: int,
                    workdir: Path) -> Ledger:
    """Keras Tuner's Hyperband (its defaults), stopped when the budget is spent."""
    import keras_tuner as kt

    ledger = Ledger(budget)

    class BudgetOracle(kt.oracles.HyperbandOracle):  # type: ignore[misc]
        def populate_space(self, trial_id: str) -> dict[str, Any]:
            if ledger.spent:
                return {"status": "STOPPED", "values": None}
            return dict(super().populate_space(trial_id))

    class Tuner(kt.Hyperband):  # type: ignore[misc]
        def __init__(self, **kwargs: Any) -> None:
            # kt.Hyperband's own __init__ only builds its oracle; this one builds ours.
            kt.Tuner.__init__(self, oracle=BudgetOracle(
                objective=kt.Objective("val_accuracy", "max"), max_epochs=epochs,
                hyperband_iterations=10_000, seed=seed), **kwargs)

    class HyperModel(kt.HyperModel):  # type: ignore[misc]
        def build(self, hp: Any) -> keras.Model:
            config = resolve_config(space.suggest(KerasTunerTrial(hp)))
            # The schedule spans the longest training a Hyperband bracket can give a trial,
            # as ASHA's trials in mnist-hpo: --epochs.
            return build_model(config, steps_per_execution=STEPS_PER_EXECUTION,
                               total_steps=training_steps(config, len(split.x_train), epochs))

        def fit(self, hp: Any, model: keras.Model, *args: Any, callbacks: Any = (),
                epochs: int = 1, initial_epoch: int = 0, **kwargs: Any) -> dict[str, float]:
            config = space.suggest(KerasTunerTrial(hp))
            trial = str(hp.values.get("tuner/trial_id") or id(model))
            result = train(config, split, epochs=epochs, initial_epoch=initial_epoch,
                           seed=seed, model=model,
                           callbacks=[*callbacks, LedgerCallback(ledger, trial, config)])
            return {"val_accuracy": max(row["val_accuracy"] for row in result.history)}

    tuner = Tuner(hypermodel=HyperModel(), directory=str(workdir),
                  project_name=f"hyperband-{seed}", overwrite=True)
    tuner.search(verbose=0)
    return ledger


def run_one_epoch(space: Space, split: Split, *, epochs: int, budget: int, seed: int,
                  finalists: int = 2) -> Ledger:
    """Egele et al. (2023)'s baseline: every configuration trained one epoch, then the
    ``finalists`` best of them trained on to ``epochs``.

    Random configurations (the search's define-by-run sampling) take one epoch each, as
    many as leave the finalists' remaining epochs in the budget; only the ``finalists``
    best stay in memory, and they then continue, the best first, where they left off.
    """
    import optuna

    from mnist_hpo.search.training.fit import Fit

    ledger = Ledger(budget)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=seed))
    first = max(finalists, budget - finalists * (epochs - 1))
    best: list[tuple[float, int, Any, dict[str, Any]]] = []  # (score, i, fit, config)
    for i in range(first):
        config = space.suggest(study.ask())
        fit = Fit(config, split, epochs=epochs, seed=seed)
        score = fit.epoch()["val_accuracy"]
        ledger.record(str(i), score, config)
        best = sorted([*best, (score, i, fit, config)], key=lambda b: -b[0])[:finalists]
    for _, i, fit, config in best:
        while fit.done < epochs and not ledger.spent:
            ledger.record(str(i), fit.epoch()["val_accuracy"], config)
    return ledger


def run_seed_network(split: Split, *, epochs: int, seed: int) -> Ledger:
    """The tutorial's network alone, trained ``epochs`` epochs: the bar a search must clear.
    Its budget is its own epochs."""
    ledger = Ledger(epochs)
    train({}, split, epochs=epochs, seed=seed,
          callbacks=[LedgerCallback(ledger, "seed", resolve_config({}))])
    return ledger
