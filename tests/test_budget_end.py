"""A real search that ends on its epoch budget with a trial in flight (``budget_run``):
export writes the best epoch's model and proves it, replay plans the trial's epochs, and
Optuna's journal holds no trial RUNNING once the search is over."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from conftest import run_cli

pytestmark = pytest.mark.slow


def val_curve(trial: Path) -> dict[int, float]:
    """val_accuracy by epoch, read straight from Ray's progress.csv (not through records)."""
    with (trial / "progress.csv").open() as f:
        return {int(r["epoch"]): float(r["val_accuracy"]) for r in csv.DictReader(f)}


def overshooting(experiment: Path) -> tuple[int, dict[int, float]]:
    """The trial whose best epoch beats its last one by the most."""
    curves = {int(p.name.removeprefix("trial_")): val_curve(p)
              for p in sorted(experiment.glob("trial_*")) if (p / "progress.csv").exists()}
    margin = {n: max(c.values()) - c[max(c)] for n, c in curves.items() if c}
    number = max(margin, key=lambda n: margin[n])
    assert margin[number] > 0, f"no trial's best epoch is before its last: {curves}"
    return number, curves[number]


def validation_split(mnist: Path, images: int = 1000, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The search's validation images, rebuilt by hand from the manifest's rule."""
    with np.load(mnist) as d:
        x, y = d["x_train"], d["y_train"]
    held_out = np.random.default_rng(seed).permutation(len(x))[:images]
    return (x[held_out].astype(np.float32) / 255.0)[..., None], y[held_out]


def test_export_writes_the_best_epoch_not_the_latest(budget_run: tuple[Path, str],
                                                     mnist_path: Path, tmp_path: Path) -> None:
    experiment, _ = budget_run
    number, curve = overshooting(experiment)
    best = max(curve, key=lambda e: (curve[e], e))
    proc = run_cli("export", str(experiment), "--trial", str(number), "--out",
                   str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"Exported trial {number}, epoch {best} " in proc.stdout

    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["trial"], metrics["epoch"]) == (number, best)
    assert metrics["val_accuracy"] == pytest.approx(curve[best], abs=1e-7)
    assert json.loads((Path(metrics["checkpoint"]) / "state.json").read_text())["epoch"] == best
    # The exported file, with plain Keras, on the validation split rebuilt by hand, scores the
    # leaderboard's val_accuracy of that epoch, and not that of the trial's latest epoch.
    x, y = validation_split(mnist_path)
    model = keras.models.load_model(tmp_path / "out" / "model.keras", safe_mode=True)
    accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert accuracy == pytest.approx(curve[best], abs=1e-4)
    assert accuracy != pytest.approx(curve[max(curve)], abs=1e-4)
    board = json.loads(run_cli("leaderboard", str(experiment), "--format", "json").stdout)
    row = next(r for r in board if r["trial"] == number)
    assert row["val_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_export_refuses_a_model_that_is_not_its_record(budget_run: tuple[Path, str],
                                                       tmp_path: Path) -> None:
    """The bug this check exists for: the latest checkpoint taken for the best epoch's."""
    experiment, _ = budget_run
    number, curve = overshooting(experiment)
    best, last = max(curve, key=lambda e: (curve[e], e)), max(curve)
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    trial = copy / f"trial_{number:04d}"
    for checkpoint in trial.glob("checkpoint_*"):
        state = json.loads((checkpoint / "state.json").read_text())
        if state["epoch"] == best:
            shutil.rmtree(checkpoint)
        else:  # the latest model, labelled as the best epoch
            (checkpoint / "state.json").write_text(json.dumps(state | {"epoch": best}))
    proc = run_cli("export", str(copy), "--trial", str(number), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"mnist-hpo export: FAILED: trial {number}, epoch {best}: the "
                           f"checkpoint scores val_accuracy {curve[last]:.4f} on the search's "
                           f"1,000 validation images, its record says {curve[best]:.4f}")
    assert not (tmp_path / "out").exists()  # nothing written


def test_no_trial_stays_running_in_optuna(budget_run: tuple[Path, str]) -> None:
    experiment, stdout = budget_run
    assert "Epoch budget reached with 3 of 4 planned trials started." in stdout
    assert "Trials: 2 completed, 0 stopped early, 1 cut by the budget, 0 errored." in stdout
    manifest = json.loads((experiment / "search.json").read_text())
    assert manifest["status"] == "epoch budget reached"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(experiment / "optuna.journal")))
    trials = optuna.load_study(study_name="budget", storage=storage).trials
    S = optuna.trial.TrialState
    assert [t.state for t in trials] == [S.COMPLETE, S.COMPLETE, S.PRUNED]
    # Trial 3 was stopped by the budget in its second epoch: PRUNED with the one it reported.
    assert trials[2].intermediate_values == pytest.approx(val_curve(experiment / "trial_0003"))
    for t, folder in zip(trials[:2], ("trial_0001", "trial_0002"), strict=True):
        assert t.value == pytest.approx(max(val_curve(experiment / folder).values()))
    board = run_cli("leaderboard", str(experiment)).stdout
    assert "cut by the budget at epoch 1" in board and "running" not in board


def test_replay_plans_the_trials_epochs_and_stops_where_it_stopped(
        budget_run: tuple[Path, str]) -> None:
    experiment, _ = budget_run
    proc = run_cli("replay", str(experiment), "--trial", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Replaying trial 3 (cut by the budget at epoch 1): 1 of 4 planned "
                               "epochs, seed 0, 1 thread")
    worst = float(lines[-1].split("difference: ")[1].split()[0])
    assert worst <= 0.005, proc.stdout  # same seed, split and threads: the same curve


def test_resume_refuses_a_search_whose_budget_is_spent(budget_run: tuple[Path, str]) -> None:
    experiment, _ = budget_run
    before = (experiment / "search.json").read_bytes()
    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 2
    assert "this search ended (epoch budget reached); add trials with `mnist-hpo extend" \
        in proc.stderr
    assert (experiment / "search.json").read_bytes() == before


def test_resume_of_an_experiment_from_another_version_says_so(budget_run: tuple[Path, str],
                                                              tmp_path: Path) -> None:
    """Ray's pickles name our modules: one written before they moved cannot be unpickled.
    The user is told so in one line; the records still open."""
    experiment, _ = budget_run
    old = tmp_path / "old"
    shutil.copytree(experiment, old)
    manifest = json.loads((old / "search.json").read_text())
    (old / "search.json").write_text(json.dumps(manifest | {"status": "interrupted"}))
    (old / "tuner.pkl").write_bytes(b"csearch.trial\nrun_trial\n.")  # pickle of a moved name
    proc = run_cli("resume", str(old))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "its Ray Tune state was written by another version of mnist-hpo" in proc.stderr
    assert run_cli("leaderboard", str(old)).returncode == 0


def test_a_budget_that_cuts_every_trial_ends_the_search_as_asked(mnist_path: Path,
                                                                 tmp_path: Path) -> None:
    # 4-epoch trials, 3 epochs in all: no trial can finish, whatever the machine's speed
    # (the stopper is asked after every result). The search did what it was asked and has
    # a best trial to export; it exited 1 and said "0 trials finished" before.
    proc = run_cli("search", "--space", "smoke", "--trials", "6", "--epochs", "4",
                   "--epoch-budget", "3", "--scheduler", "fifo", "--subset", "1500",
                   "--validation", "1000", "--no-warm-start", "--data", str(mnist_path),
                   "--storage", str(tmp_path), "--name", "cut")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "cut"
    board = json.loads(run_cli("leaderboard", str(experiment), "--format", "json").stdout)
    assert board and all(row["state"].startswith("cut by the budget ") for row in board), board
    assert f"Epoch budget reached with {len(board)} of 6 planned trials started." in proc.stdout
    assert f"Trials: 0 completed, 0 stopped early, {len(board)} cut by the budget, " \
        "0 errored." in proc.stdout
    assert f"Best: trial {board[0]['trial']}, val_accuracy={board[0]['val_accuracy']:.4f}" \
        in proc.stdout
    manifest = json.loads((experiment / "search.json").read_text())
    assert manifest["status"] == "epoch budget reached"
    assert manifest["trials"]["cut by the budget"] == len(board)
    assert manifest["best_trial"] == board[0]["trial"]
