"""Kill the driver of a real search with SIGKILL, resume it, lose and repeat nothing."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import CLI, REPO, run_cli

from mnist_hpo.reports import TrialState, load_experiment

pytestmark = pytest.mark.slow


def finished_trials(experiment: Path, epochs: int) -> dict[str, bytes]:
    """progress.csv bytes of every trial that has reported its last epoch."""
    done = {}
    for progress in experiment.glob("trial_*/progress.csv"):
        with progress.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("val_accuracy")]
        if rows and int(rows[-1]["epoch"]) == epochs:
            done[progress.parent.name] = progress.read_bytes()
    return done


def test_sigkill_then_resume(mnist_path: Path, tmp_path: Path) -> None:
    args = ["search", "--space", "smoke", "--trials", "6", "--epochs", "2", "--subset", "3000",
            "--validation", "1000", "--scheduler", "fifo", "--data", str(mnist_path),
            "--storage", str(tmp_path), "--name", "killed"]
    driver = subprocess.Popen([*CLI, *args], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = tmp_path / "killed"
    deadline = time.time() + 300
    while len(finished_trials(experiment, 2)) < 2 and time.time() < deadline:
        assert driver.poll() is None, "the search ended before it could be killed"
        time.sleep(0.5)
    time.sleep(1.0)  # let Ray write its experiment state after those trials
    before = finished_trials(experiment, 2)
    assert 2 <= len(before) < 6
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray runtime it started
    driver.wait()

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "6 trials finished, 0 failed" in proc.stdout

    records = load_experiment(experiment)
    assert records.manifest["status"] == "finished" and records.manifest["resumed_at"]
    assert len(records.trials) == 6
    assert all(t.state is TrialState.COMPLETED for t in records.trials)
    after = finished_trials(experiment, 2)
    for name, content in before.items():  # finished before the kill: kept, not run again
        assert after[name] == content, name
    for trial in experiment.glob("trial_*/progress.csv"):
        with trial.open() as f:
            epochs = [r["epoch"] for r in csv.DictReader(f)]
        assert len(epochs) == len(set(epochs)), (trial, epochs)  # no epoch trained twice


def epochs_run(experiment: Path) -> list[int]:
    """Epochs each trial has recorded, fewest first."""
    return sorted(len(list(csv.DictReader(p.open())))
                  for p in experiment.glob("trial_*/progress.csv"))


def killed_after(epochs: int, args: list[str], experiment: Path) -> None:
    """Run ``mnist-hpo ARGS`` and SIGKILL it, driver and Ray, once ``epochs`` epochs are
    recorded in ``experiment``."""
    driver = subprocess.Popen([*CLI, *args], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while sum(epochs_run(experiment)) < epochs and time.time() < deadline:
        assert driver.poll() is None, "the search ended before it could be killed"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()


def test_an_epoch_budgets_planned_end_survives_sigkill_and_resume(mnist_path: Path,
                                                                  tmp_path: Path) -> None:
    # 20 trial-epochs of 4-epoch trials: breadth at epoch 1, then the 2 best to epoch 4.
    # Resumed without its scheduler's say, the search spent the rest on new trials at
    # epoch 1 and trained no trial to the end (20 trials × 1 epoch, measured).
    args = ["search", "--space", str(REPO / "tests/data/asha_space.yaml"), "--trials", "40",
            "--epochs", "4", "--epoch-budget", "20", "--subset", "6000", "--validation", "1000",
            "--data", str(mnist_path), "--storage", str(tmp_path), "--name", "budget"]
    experiment = tmp_path / "budget"
    killed_after(8, args, experiment)
    assert sum(epochs_run(experiment)) < 20

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert load_experiment(experiment).manifest["status"] == "epoch budget reached"
    assert epochs_run(experiment) == [1] * 12 + [4, 4]


def test_a_time_budget_spent_across_sigkill_and_resume_ends_the_search_as_such(
        mnist_path: Path, tmp_path: Path) -> None:
    # Ray keeps what is left of the budget across the resume; the resumed process, whose own
    # clock had not reached the budget, recorded the search as interrupted (exit 130) and
    # said to resume it again.
    args = ["search", "--space", str(REPO / "tests/data/asha_space.yaml"), "--trials", "200",
            "--epochs", "3", "--time-budget", "20s", "--subset", "6000", "--validation", "1000",
            "--data", str(mnist_path), "--storage", str(tmp_path), "--name", "timed"]
    experiment = tmp_path / "timed"
    killed_after(4, args, experiment)

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Time budget reached after" in proc.stdout
    assert load_experiment(experiment).manifest["status"] == "time budget reached"
    again = run_cli("resume", str(experiment))
    assert again.returncode == 2 and "this search ended (time budget reached)" in again.stderr


def test_ctrl_c_stops_gracefully_and_says_how_to_resume(mnist_path: Path,
                                                       tmp_path: Path) -> None:
    args = ["search", "--space", "smoke", "--trials", "5", "--epochs", "2", "--subset", "3000",
            "--validation", "1000", "--scheduler", "fifo", "--data", str(mnist_path),
            "--storage", str(tmp_path), "--name", "stopped"]
    driver = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    experiment = tmp_path / "stopped"
    deadline = time.time() + 300
    while not finished_trials(experiment, 2) and time.time() < deadline:
        time.sleep(0.5)
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=120)
    assert driver.returncode == 130, out[-3000:]
    assert f"Continue it with: mnist-hpo resume {experiment}" in out
    manifest = load_experiment(experiment).manifest
    assert manifest["status"] == "interrupted"

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "5 trials finished, 0 failed" in proc.stdout


def test_resume_refuses_what_it_cannot_resume(tmp_path: Path) -> None:
    proc = run_cli("resume", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "nothing: no such experiment folder" in proc.stderr
