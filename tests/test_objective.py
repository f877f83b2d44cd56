"""--objective and the cost limits: parsing, what the searcher tells a two-objective study,
and the constraint TPE receives (no TensorFlow, no Ray runtime)."""

from __future__ import annotations

import warnings

import optuna
import pytest
from conftest import run_cli
from optuna.trial import TrialState

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.tune.factories import make_searcher, sampler_settings
from mnist_hpo.search.tune.objective import COST_ATTR, Objective, constraint_values
from mnist_hpo.search.tune.searcher import EPOCH_VALUES, OptunaSearcher
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


def settings(**overrides: object) -> SearchSettings:
    values: dict[str, object] = {"space": load_space("default"), "name": "s",
                                 "epochs": 3} | overrides
    return SearchSettings(**values)  # type: ignore[arg-type]


def test_objectives_parse() -> None:
    assert Objective.parse().directions == ["maximize"]
    pareto = Objective.parse("accuracy,params")
    assert (pareto.multi, pareto.cost_key, pareto.directions) == (
        True, "params", ["maximize", "minimize"])
    assert Objective.parse("accuracy, latency").cost_key == "latency_ms_batch_1"
    limited = Objective.parse("accuracy", max_params=50_000, max_latency_ms=1.5)
    assert limited.limits == {"params": 50_000.0, "latency_ms_batch_1": 1.5}


@pytest.mark.parametrize(("text", "limits", "message"), [
    ("params", {}, "--objective 'params': must be one of accuracy, accuracy,params, "
                   "accuracy,latency"),
    ("accuracy,size", {}, "--objective 'accuracy,size': must be one of"),
    ("accuracy,params,latency", {}, "must be one of"),
    ("accuracy,params", {"max_params": 10}, "--max-params and --max-latency-ms limit a "
                                             "single-objective search"),
])
def test_bad_objectives_are_refused(text: str, limits: dict[str, int], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Objective.parse(text, **limits)


def test_bad_objective_on_the_command_line_is_one_line_exit_2() -> None:
    proc = run_cli("search", "--objective", "accuracy,flops", "--trials", "1")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("mnist-hpo search: error: --objective 'accuracy,flops': "
                                   "must be one of accuracy, accuracy,params, accuracy,latency")


def searcher(cost_key: str | None, sampler: optuna.samplers.BaseSampler | None = None
             ) -> OptunaSearcher:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return OptunaSearcher(load_space("smoke").suggest,
                          sampler=sampler or optuna.samplers.RandomSampler(seed=0),
                          study_name="s", max_epochs=3, metric="val_accuracy", mode="max",
                          cost_key=cost_key)


def result(epoch: int, value: float, params: int = 50_000) -> dict[str, float]:
    return {"val_accuracy": value, "training_iteration": epoch, "params": params,
            "file_bytes": 4.0 * params, "latency_ms_batch_1": 1.0, "latency_ms_batch_256": 0.1}


def test_a_pareto_study_is_told_accuracy_and_cost() -> None:
    s = searcher("params")
    s.suggest("a")
    s.suggest("b")
    for epoch, value in ((1, 0.90), (2, 0.95), (3, 0.94)):
        s.on_trial_result("a", result(epoch, value, params=80_000))
    s.on_trial_complete("a", result(3, 0.94, params=80_000))
    s.on_trial_result("b", result(1, 0.50, params=9_000))
    s.on_trial_complete("b", result(1, 0.50, params=9_000))  # stopped by ASHA
    a, b = s.study.trials
    assert s.study.directions == [optuna.study.StudyDirection.MAXIMIZE,
                                  optuna.study.StudyDirection.MINIMIZE]
    assert a.state is TrialState.COMPLETE and a.values == [0.95, 80_000.0]  # best epoch
    assert a.user_attrs[COST_ATTR]["params"] == 80_000.0
    # Stopped early: PRUNED, its epochs kept as a user attribute, not intermediate values.
    assert b.state is TrialState.PRUNED and b.intermediate_values == {}
    assert b.user_attrs[EPOCH_VALUES] == {"1": 0.5}


def test_multi_objective_tpe_samples_after_many_pruned_trials() -> None:
    """With intermediate values on pruned trials, Optuna 5.0's multi-objective TPE raises
    RuntimeError ("A single direction cannot be retrieved"); told our way, it samples."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        tpe = optuna.samplers.TPESampler(seed=0, n_startup_trials=2, multivariate=True)
    s = searcher("params", tpe)
    for i in range(12):
        trial = f"t{i}"
        s.suggest(trial)
        epochs = 3 if i % 4 == 0 else 1
        for epoch in range(1, epochs + 1):
            s.on_trial_result(trial, result(epoch, 0.5 + i / 100, params=1000 * (i + 1)))
        s.on_trial_complete(trial, result(epochs, 0.5 + i / 100, params=1000 * (i + 1)))
    states = [t.state for t in s.study.trials]
    assert states.count(TrialState.PRUNED) == 9 and states.count(TrialState.COMPLETE) == 3
    assert len(s.study.best_trials) >= 1  # the Pareto front


def test_single_objective_is_told_as_before() -> None:
    s = searcher(None)
    s.suggest("a")
    s.on_trial_result("a", result(1, 0.9))
    s.on_trial_complete("a", result(1, 0.9))
    (a,) = s.study.trials
    assert a.state is TrialState.PRUNED and a.intermediate_values == {1: 0.9}
    assert a.user_attrs[COST_ATTR]["latency_ms_batch_1"] == 1.0  # recorded for limits


def test_cost_limits_become_optuna_constraints() -> None:
    assert constraint_values({"params": 80_000.0}, {"params": 50_000.0}) == {
        "params": 30_000.0}  # > 0: infeasible
    assert constraint_values({}, {"params": 50_000.0}) == {}  # no cost recorded
    s = settings(max_params=50_000, epochs=3)
    assert sampler_settings(s)["constraints"] == {"params": 50_000.0}
    search = make_searcher(s, None, warm_start=False)
    assert isinstance(search, OptunaSearcher)
    for trial, params in (("big", 80_000), ("small", 20_000)):
        search.suggest(trial)
        search.on_trial_result(trial, result(1, 0.9, params=params))
    big, small = search.study.trials
    assert big.constraints == {"params": 30_000.0} and small.constraints == {"params": -30_000.0}
    with pytest.raises(UsageError, match="--sampler random does not"):
        settings(max_params=50_000, sampler="random")


def test_the_searcher_of_a_pareto_search(tmp_path: object) -> None:
    search = make_searcher(settings(objective="accuracy,latency"), None)
    assert isinstance(search, OptunaSearcher)
    assert len(search.study.directions) == 2


def test_why_pruned_trials_carry_no_intermediate_values_in_a_pareto_study() -> None:
    """Optuna 5.0's multi-objective TPE fails on a pruned trial with intermediate values
    once it needs pruned trials to fill its good group. If this stops raising, Optuna fixed
    it and the searcher could report intermediate values in Pareto searches too."""
    storage = optuna.storages.InMemoryStorage()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(directions=["maximize", "minimize"], storage=storage,
                                    sampler=optuna.samplers.TPESampler(seed=0,
                                                                       n_startup_trials=2))
    study_id = storage.get_study_id_from_name(study.study_name)
    with pytest.raises(RuntimeError, match="single direction cannot be retrieved"):
        for i in range(12):
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            if i < 2:
                study.tell(trial, [x, 1 - x])
                continue
            # Trial.report refuses multi-objective studies; the storage takes the value,
            # as the searcher's storage calls would.
            storage.set_trial_intermediate_value(
                storage.get_trial_id_from_study_id_trial_number(study_id, trial.number), 1, x)
            study.tell(trial, state=TrialState.PRUNED)
