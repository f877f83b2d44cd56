"""Trial records and the leaderboard, on experiment folders the tests write (no TF, no Ray)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CLI, REPO, run_cli

from mnist_hpo.reports import ExperimentError, TrialState, leaderboard_rows, load_experiment, render
from mnist_hpo.search.experiment.names import STOPPED_MARK

COLUMNS = ["loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second",
           "epoch", "done", "training_iteration", "trial_id", "time_total_s", "node_ip"]


def write_trial(root: Path, number: int, params: dict[str, Any], val: list[float],
                done: bool = True, error: str | None = None) -> Path:
    folder = root / f"trial_{number:04d}"
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(params))
    with (folder / "progress.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for i, v in enumerate(val, start=1):
            last = i == len(val)
            writer.writerow([0.5 / i, v - 0.01, 1 - v, v, 2.0, 1000.0, i, done and last, i,
                             f"id{number}", 2.0 * i, "10.0.0.7"])
    if error:
        (folder / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
    return folder


def write_experiment(root: Path, status: str = "finished") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "search.json").write_text(json.dumps({
        "name": "t", "status": status, "searched": ["learning_rate", "dense_units"],
        "budget": {"trials": 4, "epochs": 3}}))
    write_trial(root, 1, {"learning_rate": 0.001, "dense_units": 64}, [0.90, 0.95, 0.97])
    write_trial(root, 2, {"learning_rate": 1e-6, "dense_units": 32}, [0.20], done=False)
    write_trial(root, 3, {"learning_rate": 0.01, "dense_units": 128}, [0.93, 0.98, 0.96])
    write_trial(root, 4, {"learning_rate": 0.1, "dense_units": 32}, [0.5],
                error="ResourceExhaustedError: OOM when allocating tensor")
    return root


def test_records(tmp_path: Path) -> None:
    exp = load_experiment(write_experiment(tmp_path / "e"))
    states = {t.number: t.state for t in exp.trials}
    assert states == {1: TrialState.COMPLETED, 2: TrialState.STOPPED, 3: TrialState.COMPLETED,
                      4: TrialState.ERRORED}
    t3 = exp.trials[2]
    assert (t3.best_val_accuracy, t3.last_val_accuracy, t3.epochs_run) == (0.98, 0.96, 3)
    assert t3.best_epoch is not None and t3.best_epoch["epoch"] == 2
    assert t3.wall_time_s == 6.0 and t3.node == "10.0.0.7" and t3.params["dense_units"] == 128
    assert exp.trials[1].status_text == "stopped early at epoch 1"
    assert exp.trials[3].status_text == ("errored: ResourceExhaustedError: OOM when "
                                         "allocating tensor")
    assert exp.best().number == 3


def test_costs_are_read_shown_and_sortable(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    for number, params in ((1, 400_000), (3, 90_000)):
        progress = root / f"trial_{number:04d}" / "progress.csv"
        rows = list(csv.reader(progress.open()))
        cost = [str(params), str(params * 4 + 20_000), "2.5", "0.125"]
        progress.write_text("\n".join(",".join(r + (["params", "file_bytes",
                                                        "latency_ms_batch_1",
                                                        "latency_ms_batch_256"] if i == 0
                                                       else cost))
                                      for i, r in enumerate(rows)) + "\n")
    exp = load_experiment(root)
    assert exp.trials[0].cost == {"params": 400_000, "file_bytes": 1_620_000,
                                  "latency_ms_batch_1": 2.5, "latency_ms_batch_256": 0.125}
    rows = leaderboard_rows(exp, sort="params")
    assert [r["trial"] for r in rows[:2]] == [3, 1]  # smallest first; unknown ones last
    assert (rows[0]["params"], rows[0]["file_mb"], rows[0]["ms_per_image_b1"]) == (
        90_000, 0.38, 2.5)
    assert rows[2]["params"] is None
    assert "params  file_mb  ms_per_image_b1" in render(rows, "table")


def test_retried_trial_is_completed_with_its_failures(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    (root / "trial_0001" / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-11-27_03-44-20)\nRayActorError: node died\n")
    trial = load_experiment(root).trials[0]
    assert trial.state is TrialState.COMPLETED and trial.failures == 1
    assert trial.status_text == "completed after 1 failure"


def test_trial_that_failed_before_starting_is_shown(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    (root / "trial_0005").mkdir()
    (root / "trial_0005" / "error.txt").write_text("Failure # 1 (occurred at x)\nno actor\n")
    trial = load_experiment(root).trials[-1]
    assert (trial.number, trial.state, trial.error, trial.params) == (
        5, TrialState.ERRORED, "no actor", {})


def test_running_search_and_half_written_rows(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e", status="running")
    progress = root / "trial_0002" / "progress.csv"
    progress.write_text(progress.read_text() + "0.4,0.5,")  # Ray is mid-write
    exp = load_experiment(root)
    assert exp.trials[1].state is TrialState.RUNNING and exp.trials[1].epochs_run == 1


def test_a_trial_stopped_while_paused_is_stopped_in_a_running_search(tmp_path: Path) -> None:
    # Promotion-type ASHA: Ray stops a paused trial without a `done` row; the mark says so
    # before the search itself has ended (the driver concludes from these records).
    root = write_experiment(tmp_path / "e", status="running")
    assert load_experiment(root).trials[1].state is TrialState.RUNNING
    (root / "trial_0002" / STOPPED_MARK).write_text("epoch 1\n")
    assert load_experiment(root).trials[1].state is TrialState.STOPPED


def test_epochs_after_which_a_trial_was_restored(tmp_path: Path) -> None:
    folder = write_trial(tmp_path, 1, {"learning_rate": 0.001}, [0.9, 0.93, 0.95, 0.96])
    rows = list(csv.reader(folder.joinpath("progress.csv").open()))
    rows[0].append("iterations_since_restore")
    for row, since in zip(rows[1:], (1, 1, 2, 1), strict=True):  # restored after 1 and 3
        row.append(str(since))
    with folder.joinpath("progress.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    (tmp_path / "search.json").write_text(json.dumps({
        "name": "t", "status": "finished", "budget": {"trials": 1, "epochs": 4}}))
    assert load_experiment(tmp_path).trials[0].resumed_after == [1, 3]


def test_corrupt_trial_is_skipped_with_a_warning(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    root = write_experiment(tmp_path / "e")
    (root / "trial_0003" / "params.json").write_text("{not json")
    exp = load_experiment(root)
    assert [t.number for t in exp.trials] == [1, 2, 4]
    assert exp.skipped == ["trial_0003: corrupt params.json (Expecting property name "
                           "enclosed in double quotes)"]
    assert "skipping trial_0003" in caplog.text


def test_leaderboard_ranks_and_sorts(tmp_path: Path) -> None:
    exp = load_experiment(write_experiment(tmp_path / "e"))
    rows = leaderboard_rows(exp)
    assert [r["trial"] for r in rows] == [3, 1, 4, 2]
    assert rows[0] == {"rank": 1, "trial": 3, "state": "completed", "val_accuracy": 0.98,
                       "last_val_accuracy": 0.96, "val_loss": pytest.approx(0.02),
                       "epochs": 3, "wall_time_s": 6.0, "node": "10.0.0.7",
                       # Recorded before costs were measured: shown as unknown.
                       "params": None, "file_mb": None, "ms_per_image_b1": None,
                       "ms_per_image_b256": None,
                       "learning_rate": 0.01, "dense_units": 128}
    assert [r["trial"] for r in leaderboard_rows(exp, top=2)] == [3, 1]
    assert leaderboard_rows(exp, sort="val_loss")[0]["trial"] == 3
    assert [r["trial"] for r in leaderboard_rows(exp, sort="learning_rate")] == [2, 1, 3, 4]
    with pytest.raises(ExperimentError, match=r"--sort 'speed': not a column .* nor a searched"):
        leaderboard_rows(exp, sort="speed")


def test_leaderboard_formats(tmp_path: Path) -> None:
    rows = leaderboard_rows(load_experiment(write_experiment(tmp_path / "e")))
    parsed = list(csv.DictReader(io.StringIO(render(rows, "csv"))))
    assert [int(r["trial"]) for r in parsed] == [3, 1, 4, 2]
    assert json.loads(render(rows, "json"))[0]["trial"] == 3
    md = render(rows, "markdown").splitlines()
    assert md[0].startswith("| rank | trial | state |") and len(md) == 2 + len(rows)
    table = render(rows, "table").splitlines()
    assert table[0].split()[:3] == ["rank", "trial", "state"] and "0.9800" in table[1]
    assert "1e-06" in render(rows, "table")  # hyperparameters keep their digits


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p, r"no such experiment folder"),
    (lambda p: (p.mkdir(), p)[1], r"is empty; not an experiment written by mnist-hpo search"),
    (lambda p: (p.mkdir(), (p / "search.json").write_text("{oops"), p)[2],
     r"search\.json: corrupt JSON"),
])
def test_experiment_errors(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        load_experiment(make(tmp_path / "x"))


def test_no_finished_trial(tmp_path: Path) -> None:
    root = tmp_path / "e"
    root.mkdir()
    (root / "search.json").write_text(json.dumps({"status": "running", "budget": {"epochs": 2}}))
    with pytest.raises(ExperimentError, match=r"no trial has reported val_accuracy yet"):
        load_experiment(root).best()


def test_cli_leaderboard_exit_codes(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    ok = run_cli("leaderboard", str(root), "--format", "csv", "--top", "1")
    assert ok.returncode == 0 and ok.stdout.splitlines()[1].startswith("1,3,completed")
    bad = run_cli("leaderboard", str(tmp_path / "missing"))
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "missing: no such experiment folder" in bad.stderr


def test_leaderboard_imports_neither_tensorflow_nor_ray(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    proc = subprocess.run([sys.executable, "-X", "importtime", *CLI[1:], "leaderboard",
                           str(root)], cwd=REPO, capture_output=True, text=True, check=True)
    modules = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    assert "mnist_hpo.reports.leaderboard" in modules
    assert not {m.split(".")[0] for m in modules} & {"tensorflow", "keras", "ray", "optuna"}


def write_checkpoint(trial: Path, index: int, epoch: int, val: float) -> Path:
    """A checkpoint folder as the trainable writes it (the model file's bytes say which)."""
    folder = trial / f"checkpoint_{index:06d}"
    folder.mkdir()
    (folder / "model.keras").write_text(f"epoch {epoch}")
    (folder / "state.json").write_text(json.dumps({"epoch": epoch, "val_accuracy": val}))
    return folder


def test_the_best_checkpoint_is_the_best_epochs_not_the_latest(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    trial = root / "trial_0003"  # val 0.93, 0.98, 0.96: best epoch 2, latest epoch 3
    best = write_checkpoint(trial, 1, epoch=2, val=0.98)
    write_checkpoint(trial, 2, epoch=3, val=0.96)
    (trial / "checkpoint_000003").mkdir()  # being written: no state.json yet
    record = load_experiment(root).trial(3)
    assert record.checkpoint == best
    assert sorted(record.checkpoints) == [2, 3]


def test_a_tie_is_the_later_epoch_as_ray_keeps_it(tmp_path: Path) -> None:
    root = tmp_path / "e"
    write_experiment(root)
    trial = write_trial(root, 5, {"learning_rate": 0.01, "dense_units": 64}, [0.9, 0.95, 0.95])
    write_checkpoint(trial, 2, epoch=3, val=0.95)
    record = load_experiment(root).trial(5)
    assert record.best_epoch is not None and record.best_epoch["epoch"] == 3
    assert record.checkpoint == trial / "checkpoint_000002"


def test_no_checkpoint_of_the_best_epoch_is_none(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    write_checkpoint(root / "trial_0003", 2, epoch=3, val=0.96)  # only the latest survived
    assert load_experiment(root).trial(3).checkpoint is None


@pytest.mark.parametrize(("status", "state"), [
    ("time budget reached", TrialState.CUT),
    ("epoch budget reached", TrialState.CUT),
    ("finished", TrialState.STOPPED),
    # The failure budget and an interruption pause the search: `resume` continues the trial.
    ("failure budget reached", TrialState.INTERRUPTED),
    ("interrupted", TrialState.INTERRUPTED),
    ("running", TrialState.RUNNING),
])
def test_a_trial_in_flight_when_the_search_ended(tmp_path: Path, status: str,
                                                 state: TrialState) -> None:
    root = write_experiment(tmp_path / "e", status=status)
    write_trial(root, 5, {"learning_rate": 0.01, "dense_units": 64}, [0.9], done=False)
    assert load_experiment(root).trial(5).state is state


def test_an_unknown_status_is_named(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e", status="paused")
    with pytest.raises(ExperimentError, match=r"search.json: unknown status 'paused' \(known: "
                                              r"running, finished, time budget reached"):
        load_experiment(root)


@pytest.mark.parametrize("status", ["finished", "time budget reached", "epoch budget reached",
                                    "failure budget reached", "interrupted"])
def test_watch_returns_once_the_search_has_ended(tmp_path: Path, status: str) -> None:
    root = write_experiment(tmp_path / "e", status=status)
    proc = subprocess.run([*CLI, "leaderboard", str(root), "--watch", "0.1"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and f"({status}, 4 trials" in proc.stdout


def test_importance_is_computed_over_trials_told_as_they_ended(tmp_path: Path) -> None:
    import optuna

    from mnist_hpo.reports.plot_data import importance_study

    root = write_experiment(tmp_path / "e")
    manifest = json.loads((root / "search.json").read_text())
    manifest["space"] = {"name": "t", "params": {"learning_rate": {"low": 1e-7, "high": 0.5,
                                                                    "log": True},
                                                 "dense_units": {"choices": [32, 64, 128]}}}
    (root / "search.json").write_text(json.dumps(manifest))
    study = importance_study(load_experiment(root), ["learning_rate", "dense_units"])
    told = {t.params["learning_rate"]: t for t in study.trials}
    S = optuna.trial.TrialState
    assert {lr: t.state for lr, t in told.items()} == {0.001: S.COMPLETE, 1e-6: S.PRUNED,
                                                        0.01: S.COMPLETE, 0.1: S.FAIL}
    # Completed: the best epoch's score; stopped early: its per-epoch values, never COMPLETE.
    assert told[0.01].value == 0.98 and told[0.01].intermediate_values == {
        1: 0.93, 2: 0.98, 3: 0.96}
    assert told[1e-6].intermediate_values == {1: 0.20}
