"""Kill the driver of a real search with SIGKILL, resume it, lose and repeat nothing."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CLI, REPO, run_cli

from mnist_hpo.reports import TrialState, load_experiment, tally_text
from mnist_hpo.search.tune.clock import time_budget_state

pytestmark = [pytest.mark.slow, pytest.mark.load,
              pytest.mark.usefixtures("state_saved_every_step")]


def finished_trials(experiment: Path, epochs: int) -> dict[str, bytes]:
    """progress.csv bytes of every trial that has reported its last epoch."""
    done = {}
    for progress in experiment.glob("trial_*/progress.csv"):
        with progress.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("val_accuracy")]
        if rows and int(rows[-1]["epoch"]) == epochs:
            done[progress.parent.name] = progress.read_bytes()
    return done


def saved_as_ended(experiment: Path) -> set[str]:
    """Folders of the trials Ray's newest experiment state records as ended (TERMINATED):
    those a resume keeps as they are. Empty while no whole state file is there yet."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    try:
        trial_data = json.loads(states[-1].read_text())["trial_data"] if states else []
    except (OSError, ValueError, KeyError):
        return set()  # being rewritten: look again
    ended = set()
    for trial_json, _ in trial_data:
        trial = json.loads(trial_json) if isinstance(trial_json, str) else trial_json
        if trial.get("status") == "TERMINATED" and trial.get("relative_logdir"):
            ended.add(str(trial["relative_logdir"]))
    return ended


def until(event: Callable[[], bool], driver: subprocess.Popen[bytes], what: str) -> None:
    """Wait for ``event``, observed in the experiment's files, while the driver runs. The
    limit only catches a hang; what ends the wait is the event, however slow the machine."""
    deadline = time.monotonic() + HANG_S
    while not event():
        assert driver.poll() is None, f"the search ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after {HANG_S} s: a hang"
        time.sleep(0.2)


#: A hang, not slowness: well past what the slowest run under load took, within the
#: per-test timeout.
HANG_S = 480


def test_sigkill_then_resume(mnist_path: Path, tmp_path: Path) -> None:
    args = ["search", "--space", "smoke", "--trials", "6", "--epochs", "2", "--subset", "3000",
            "--validation", "1000", "--scheduler", "fifo", "--data", str(mnist_path),
            "--storage", str(tmp_path), "--name", "killed"]
    driver = subprocess.Popen([*CLI, *args], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    experiment = tmp_path / "killed"
    # Killed once Ray's saved state has two trials ended: those a resume must keep as they
    # are (a trial that ended after the last save is legitimately run on from its
    # checkpoint).
    until(lambda: len(saved_as_ended(experiment)) >= 2, driver, "two trials saved as ended")
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray runtime it started
    driver.wait()
    kept = saved_as_ended(experiment)
    before = {name: content for name, content in finished_trials(experiment, 2).items()
              if name in kept}
    assert 2 <= len(before) == len(kept) < 6

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Trials: 6 completed, 0 stopped early, 0 cut by the budget, 0 errored." in proc.stdout

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
    until(lambda: sum(epochs_run(experiment)) >= epochs, driver, f"{epochs} epochs recorded")
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
    # said to resume it again. Killed once the budget's clock runs (its file says less is
    # left than was given), whatever has trained by then; how many trials fit in the rest
    # depends on the machine, so the verdict does not: the ending and an exit code that
    # agrees with the records.
    args = ["search", "--space", str(REPO / "tests/data/asha_space.yaml"), "--trials", "200",
            "--epochs", "3", "--time-budget", "30s", "--subset", "6000", "--validation", "1000",
            "--data", str(mnist_path), "--storage", str(tmp_path), "--name", "timed"]
    experiment = tmp_path / "timed"
    driver = subprocess.Popen([*CLI, *args], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until(lambda: (time_budget_state(experiment) or {}).get("left_s", 30) < 30, driver,
          "time budget counting down")
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()

    proc = run_cli("resume", str(experiment))
    records = load_experiment(experiment)
    assert records.manifest["status"] == "time budget reached", proc.stdout[-3000:]
    assert proc.returncode == (0 if records.finished else 1), \
        proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Time budget reached with " in proc.stdout
    assert f"Trials: {tally_text(records.tally())}." in proc.stdout
    assert time_budget_state(experiment) == {"budget_s": 30.0, "left_s": 0.0, "reached": True}
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
    until(lambda: bool(finished_trials(experiment, 2)), driver, "a trial finished")
    driver.send_signal(signal.SIGINT)
    out, _ = driver.communicate(timeout=HANG_S)
    assert driver.returncode == 130, out[-3000:]
    assert f"Continue it with: mnist-hpo resume {experiment}" in out
    manifest = load_experiment(experiment).manifest
    assert manifest["status"] == "interrupted"

    proc = run_cli("resume", str(experiment))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Trials: 5 completed, 0 stopped early, 0 cut by the budget, 0 errored." in proc.stdout


def test_resume_refuses_what_it_cannot_resume(tmp_path: Path) -> None:
    proc = run_cli("resume", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and "nothing: no such experiment folder" in proc.stderr
