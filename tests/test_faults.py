"""Faults: a diverging trial fails at once with its reason; the search goes on, or stops at
its failure budget saying what failed and how to continue."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from mnist_hpo.reports import TrialState, load_experiment
from mnist_hpo.search.training.divergence import DIVERGED_LOSS, DivergedError, StopOnDivergence

SPACE = str(REPO / "tests/data/diverging_space.yaml")
ALWAYS_DIVERGING = str(REPO / "tests/data/always_diverging_space.yaml")
DIVERGING = {"conv_blocks": 1, "convs_per_block": 1, "filters_1": 8, "kernel_size_1": 3,
             "conv_dropout": 0.0, "dense_units": 32, "dense_dropout": 0.0,
             "optimizer": "adamw", "batch_size": 8, "learning_rate": 10.0, "rotation": 0.0,
             "zoom": 0.0, "width_shift": 0.0, "height_shift": 0.0}


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), DIVERGED_LOSS * 2])
def test_divergence_is_an_error(loss: float) -> None:
    stop = StopOnDivergence()
    stop.on_epoch_begin(2)
    stop.on_train_batch_end(0, {"loss": 2.2})  # an ordinary loss passes
    with pytest.raises(DivergedError, match=r"training diverged: loss .* at epoch 3, batch 8"):
        stop.on_train_batch_end(7, {"loss": loss})


@pytest.mark.slow
def test_train_command_fails_loudly_and_saves_nothing(mnist_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = run_cli("train", "--config", json.dumps(DIVERGING), "--epochs", "1", "--subset",
                   "1000", "--validation", "500", "--data", str(mnist_path), "--out", str(out))
    assert proc.returncode == 1
    assert "FAILED: training diverged: loss" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


def search(mnist_path: Path, storage: Path, *extra: str) -> list[str]:
    return ["search", "--space", SPACE, "--trials", "4", "--subset", "1000", "--validation",
            "500", "--scheduler", "fifo", "--seed", "0", "--data", str(mnist_path),
            "--storage", str(storage), *extra]


@pytest.mark.slow
def test_failed_trials_do_not_stop_the_search(mnist_path: Path, tmp_path: Path) -> None:
    # Half the space's learning rates diverge; whichever the sampler draws, every trial ends
    # as what it was and the search runs all four.
    proc = run_cli(*search(mnist_path, tmp_path, "--name", "faults"))
    records = {t.number: t for t in load_experiment(tmp_path / "faults").trials}
    assert sorted(records) == [1, 2, 3, 4], proc.stdout[-3000:] + proc.stderr[-3000:]
    diverged = [t for t in records.values() if t.params["learning_rate"] == 10.0]
    for t in records.values():
        if t in diverged:
            assert t.state is TrialState.ERRORED
            assert t.error and "DivergedError: training diverged: loss" in t.error
        else:
            assert t.state is TrialState.COMPLETED and (t.best_val_accuracy or 0) > 0.5
    assert proc.stdout.count("failed: ") == len(diverged)
    assert f"Trials: {4 - len(diverged)} completed, 0 stopped early, 0 cut by the budget, " \
        f"{len(diverged)} errored." in proc.stdout
    assert proc.returncode == (1 if len(diverged) == 4 else 0)


@pytest.mark.slow
def test_failure_budget_stops_the_search(mnist_path: Path, tmp_path: Path) -> None:
    # Every trial of this space diverges: the budget of 2 is spent by trials 1 and 2.
    proc = run_cli(*search(mnist_path, tmp_path, "--name", "budget", "--max-failed-trials",
                           "2", "--max-concurrent", "1", "--space", ALWAYS_DIVERGING))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "budget"
    out = proc.stdout
    assert "Stopped: 2 trials failed, the --max-failed-trials budget:" in out
    assert "  trial 1: DivergedError: training diverged" in out
    assert "  trial 2: DivergedError: training diverged" in out
    assert f"continue with: mnist-hpo resume {experiment}" in out
    manifest = json.loads((experiment / "search.json").read_text())
    assert manifest["status"] == "failure budget reached" and manifest["trials_errored"] == 2


@pytest.mark.slow
def test_a_search_where_no_trial_scored_fails(mnist_path: Path, tmp_path: Path) -> None:
    # Every trial of this space diverges in its first epoch: the search ran every planned
    # trial, none scored, and there is nothing to export: exit 1, and the summary says why.
    proc = run_cli(*search(mnist_path, tmp_path, "--name", "none", "--trials", "2",
                           "--space", ALWAYS_DIVERGING))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Finished: all 2 planned trials ran." in proc.stdout
    assert "Trials: 0 completed, 0 stopped early, 0 cut by the budget, 2 errored." in proc.stdout
    assert "No trial reported a result." in proc.stdout and "Best:" not in proc.stdout
    manifest = json.loads((tmp_path / "none" / "search.json").read_text())
    assert manifest["status"] == "finished" and manifest["best_trial"] is None
