"""What the searcher tells Optuna stays true across a killed driver and a budget's end.

Real Ray searcher and real Optuna journal, no Ray runtime: the searcher's methods are called
as Ray Tune calls them.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from mnist_hpo.search.experiment.names import JOURNAL
from mnist_hpo.search.tune.factories import make_searcher
from mnist_hpo.search.tune.searcher import OptunaSearcher, close_unfinished_trials
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space

S = optuna.trial.TrialState


def searcher(folder: Path, epochs: int = 3) -> OptunaSearcher:
    settings = SearchSettings(space=load_space("smoke"), name="s", epochs=epochs)
    made = make_searcher(settings, folder)
    assert isinstance(made, OptunaSearcher)
    return made


def told(folder: Path) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(folder / JOURNAL)))
    return optuna.load_study(study_name="s", storage=storage).trials


def result(epoch: int, val: float) -> dict[str, float]:
    return {"training_iteration": epoch, "val_accuracy": val}


def test_a_resumed_trial_is_told_every_epoch_it_ran(tmp_path: Path) -> None:
    first = searcher(tmp_path)
    assert first.suggest("t1") is not None
    # Ray saved the searcher's state here; the trial then reported its best epoch, and the
    # driver was killed before the next save.
    first.save(str(tmp_path / "searcher.pkl"))
    first.on_trial_result("t1", result(1, 0.95))

    resumed = searcher(tmp_path)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    # The trial continues from its epoch-1 checkpoint: epochs 2 and 3 are reported anew,
    # the last one only to on_trial_complete (as Ray does).
    resumed.on_trial_result("t1", result(2, 0.90))
    resumed.on_trial_complete("t1", result(3, 0.92))

    [trial] = told(tmp_path)
    assert trial.state is S.COMPLETE
    assert trial.intermediate_values == pytest.approx({1: 0.95, 2: 0.90, 3: 0.92})
    assert trial.value == pytest.approx(0.95)  # its best epoch, told before the kill


def test_an_early_stopped_trial_is_pruned_with_its_values(tmp_path: Path) -> None:
    s = searcher(tmp_path)
    s.suggest("t1")
    s.on_trial_result("t1", result(1, 0.5))
    s.on_trial_complete("t1", result(2, 0.6))  # ASHA stopped it at epoch 2 of 3
    [trial] = told(tmp_path)
    assert trial.state is S.PRUNED and trial.intermediate_values == pytest.approx(
        {1: 0.5, 2: 0.6})


def test_trials_in_flight_at_a_budgets_end_are_closed(tmp_path: Path) -> None:
    s = searcher(tmp_path)
    for name in ("done", "scored", "unscored"):
        s.suggest(name)
    s.on_trial_result("done", result(1, 0.5))
    s.on_trial_complete("done", result(3, 0.7))
    s.on_trial_result("scored", result(1, 0.8))  # stopped by the budget after one epoch
    # "unscored" was stopped before its first epoch ended.
    assert [t.state for t in told(tmp_path)] == [S.COMPLETE, S.RUNNING, S.RUNNING]

    assert close_unfinished_trials(tmp_path / JOURNAL) == 2
    done, scored, unscored = told(tmp_path)
    assert (done.state, done.value) == (S.COMPLETE, pytest.approx(0.7))
    assert (scored.state, scored.value) == (S.PRUNED, pytest.approx(0.8))
    assert scored.intermediate_values == pytest.approx({1: 0.8})
    assert unscored.state is S.FAIL
    assert close_unfinished_trials(tmp_path / JOURNAL) == 0  # nothing left to close
