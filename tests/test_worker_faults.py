"""Worker faults: SIGKILL a trial's worker process during a real search, at moments chosen by
what the worker is doing, and lose nothing.

Each kill is aimed by observed events, never by a clock: the worker's pid comes from the
trial's own reports (``result.json`` carries it), and what the worker is doing from the title
Ray gives the process while it runs a task of the trial (``ray::…Trainable.train`` for an
epoch, ``…save`` for a checkpoint) and from its working folder (Ray's folder for the trial).
The worker is stopped (SIGSTOP), checked again, then killed, so a kill lands exactly where
it was aimed or not at all.

What a kill must cost follows from Ray's protocol. An actor runs one task at a time, Ray
asks for epoch N+1 only once it has registered epoch N's checkpoint, and it writes a trial's
reports before it asks for that epoch's checkpoint. So a worker killed during an epoch is
retried from the epoch before, which is reported once. A worker killed while saving epoch N's
checkpoint never delivered it: the trial goes on from epoch N-1's and trains epoch N again.
Epoch N's first report may then stay in the trial's files or not (Ray copies the last synced
``result.json`` and ``progress.csv`` back over its own when it restarts a trial, and the two
may have been synced at different moments); the later report is the one the model went on
from, and the records, the leaderboard and the Optuna study must all keep that one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from conftest import CLI

from mnist_hpo.reports import TrialState, leaderboard_rows, load_experiment
from mnist_hpo.search.experiment.names import CHECKPOINT_STATE, JOURNAL
from mnist_hpo.search.experiment.trial_files import read_progress, read_results
from mnist_hpo.search.tune.journal import open_journal
from mnist_hpo.search.tune.searcher import RAY_TRIAL_ID, epoch_values

pytestmark = [pytest.mark.slow, pytest.mark.load,
              pytest.mark.usefixtures("state_saved_every_step")]

EPOCHS = 4
TRIALS = 3
#: Hang guard only (pytest-timeout is 600 s): the search takes 40 s on an idle 2-core
#: machine, 70 s beside two busy processes.
DEADLINE_S = 480

TRAINING, SAVING = "train", "save"


@dataclass(frozen=True)
class Kill:
    """A worker killed: which trial it was running, its pid, and what it was doing."""

    trial: int
    pid: int
    moment: str  # TRAINING or SAVING


@dataclass(frozen=True)
class Aim:
    """Where to kill: a worker of one of ``trials`` (the first that qualifies), not killed
    before, that has reported epoch ``after_epoch`` or later of that trial, at ``moment``."""

    trials: tuple[int, ...]
    moment: str
    after_epoch: int


#: Trial 1 twice (--max-failures 2): during an epoch, then its new worker while it saves a
#: checkpoint; then a later trial once, while it saves the checkpoint of its last epoch
#: (Ray has its final, ``done`` report by then). Trials run one at a time.
AIMS = (Aim((1,), TRAINING, after_epoch=1), Aim((1,), SAVING, after_epoch=1),
        Aim((2, 3), SAVING, after_epoch=EPOCHS - 1))


def test_killed_workers_lose_no_epoch(mnist_path: Path, tmp_path: Path) -> None:
    args = ["search", "--space", "smoke", "--trials", str(TRIALS), "--epochs", str(EPOCHS),
            "--subset", "2000", "--validation", "1000", "--scheduler", "fifo",
            "--max-concurrent", "1", "--max-failures", "2", "--seed", "0",
            "--data", str(mnist_path), "--storage", str(tmp_path), "--name", "faults"]
    experiment = tmp_path / "faults"
    log = tmp_path / "output.txt"  # a file, not a pipe: nothing reads it while we aim
    with log.open("w") as output:
        driver = subprocess.Popen([*CLI, *args], start_new_session=True, stdout=output,
                                  stderr=subprocess.STDOUT)
    deadline = time.monotonic() + DEADLINE_S
    try:
        kills = kill_as_aimed(driver, experiment, log, deadline)
        driver.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        if driver.poll() is None:  # a failed assertion above: take the search down with it
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == 0, log.read_text()[-4000:]
    assert [(k.trial, k.moment) for k in kills][:2] == [(1, TRAINING), (1, SAVING)]
    check_experiment(experiment, kills)


def check_experiment(experiment: Path, kills: list[Kill]) -> None:
    """Every trial of ``experiment`` completed, its killed workers cost it nothing more than
    what it was doing when killed, and the Optuna study equals the leaderboard."""
    records = load_experiment(experiment)
    assert records.manifest["status"] == "finished"
    assert [t.number for t in records.trials] == list(range(1, TRIALS + 1))
    for record in records.trials:
        killed = [k for k in kills if k.trial == record.number]
        reports = read_results(record.path / "result.json")
        resumed_after = check_reports(reports, killed)
        assert check_reports(read_progress(record.path / "progress.csv"), killed) == \
            resumed_after
        assert record.state is TrialState.COMPLETED, record
        assert record.failures == len(killed), (record.number, record.failures, kills)
        assert record.resumed_after == resumed_after, (record.number, record.resumed_after)
        # Each epoch once, as its last report says: the one the model went on from.
        last = {int(r["epoch"]): float(r["val_accuracy"]) for r in reports}
        assert [(int(e["epoch"]), e["val_accuracy"]) for e in record.epochs] == \
            sorted(last.items())
        # The kept model is that of the best epoch as recorded, and the last epoch's is kept.
        assert record.checkpoint is not None and sorted(record.checkpoints)[-1] == EPOCHS
        state = json.loads((record.checkpoint / CHECKPOINT_STATE).read_text())
        assert state["val_accuracy"] == record.best_val_accuracy, (record.number, state)
    # A retried epoch reported twice must be told to Optuna as the records keep it.
    assert study_trials(experiment) == leaderboard_trials(experiment), \
        "the Optuna study's (trial, state, value, per-epoch values) differ from the leaderboard's"


def kill_as_aimed(driver: subprocess.Popen[bytes], experiment: Path, log: Path,
                  deadline: float) -> list[Kill]:
    """SIGKILL workers of the search ``driver`` runs into ``experiment`` (its output in
    ``log``), as :data:`AIMS` says, one after the other; the kills made."""
    reports = Reports(experiment)
    kills: list[Kill] = []
    for aim in AIMS:
        while not (kill := try_kill(aim, driver.pid, reports, kills)):
            assert driver.poll() is None, (
                f"the search ended before {aim} (kills so far: {kills}); "
                f"its output:\n{log.read_text()[-4000:]}")
            assert time.monotonic() < deadline, f"hang guard: no chance for {aim} ({kills})"
            time.sleep(0.0005)  # a checkpoint save lasts tens of milliseconds
        kills.append(kill)
    return kills


class Reports:
    """Each trial's reports in ``result.json``, read again only when the file changed."""

    def __init__(self, experiment: Path) -> None:
        self.experiment = experiment
        self._read: dict[int, tuple[tuple[int, int], list[dict[str, Any]]]] = {}

    def __call__(self, trial: int) -> list[dict[str, Any]]:
        path = self.experiment / f"trial_{trial:04d}" / "result.json"
        try:
            stat = path.stat()
        except FileNotFoundError:
            return []
        key = (stat.st_mtime_ns, stat.st_size)
        if trial not in self._read or self._read[trial][0] != key:
            self._read[trial] = (key, read_results(path))
        return self._read[trial][1]


def try_kill(aim: Aim, driver: int, reports: Reports, kills: list[Kill]) -> Kill | None:
    """Kill the worker ``aim`` targets if it is at its moment now."""
    for trial in aim.trials:
        reported = reports(trial)
        if not reported:
            return None  # not started yet: the later trials neither
        pid = int(reported[-1]["pid"])
        if any(k.pid == pid for k in kills) or reported[-1].get("done"):
            continue  # its worker is dead, or the trial is done: the next trial's turn
        if int(reported[-1]["epoch"]) < aim.after_epoch:
            return None
        if not is_doing(pid, trial, aim.moment) or not descends_from(pid, driver):
            return None
        try:
            os.kill(pid, signal.SIGSTOP)
            # Stopped: what it is doing now is what it was doing when killed.
            if is_doing(pid, trial, aim.moment):
                os.kill(pid, signal.SIGKILL)
                return Kill(trial, pid, aim.moment)
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass  # it ended meanwhile: not our kill
        return None
    return None


def is_doing(pid: int, trial: int, moment: str) -> bool:
    """Whether worker ``pid`` is running task ``moment`` (``train``, ``save``) of ``trial``:
    Ray titles a worker ``ray::<class>.<task>`` while it runs a task, and runs each trial in
    its own working folder, named like the trial's."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        folder = Path(os.readlink(f"/proc/{pid}/cwd")).name
    except OSError:
        return False
    return title.startswith("ray::") and title.endswith(f"Trainable.{moment}") and \
        folder == f"trial_{trial:04d}"


def descends_from(pid: int, ancestor: int) -> bool:
    """Whether process ``pid`` was started by ``ancestor`` or its descendants: a worker of
    this search, not of another search on the same machine."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the name: ppid
    return False


def check_reports(reports: list[dict[str, Any]], killed: list[Kill]) -> list[int]:
    """Check a trial's reports (from ``result.json`` or ``progress.csv``) against the kills
    of its workers; the epochs after which the trial went on from a checkpoint.

    The reports fall into one run per worker process, each run's epochs consecutive, from
    epoch 1 to the last; a new run starts with the first report of a restored trial. After a
    kill during an epoch, the next run starts with that epoch. After a kill during the
    checkpoint save of epoch N, it starts with epoch N again, whether or not the killed
    worker's report of epoch N stayed in the file: that epoch alone may be there twice.
    """
    runs: list[list[dict[str, Any]]] = []
    for report in reports:
        if not runs or str(report["pid"]) != str(runs[-1][-1]["pid"]):
            runs.append([])
        runs[-1].append(report)
    assert [int(r[0]["pid"]) for r in runs[:-1]] == [k.pid for k in killed], (runs, killed)
    epochs = [[int(r["epoch"]) for r in run] for run in runs]
    for run, numbers in zip(runs, epochs, strict=True):
        assert numbers == list(range(numbers[0], numbers[-1] + 1)), epochs
        assert [int(r["training_iteration"]) for r in run] == numbers, epochs
        assert int(run[0]["iterations_since_restore"]) == 1, epochs
    assert epochs[0][0] == 1 and epochs[-1][-1] == EPOCHS, epochs
    resumed_after, twice = [], set()
    for kill, before, after in zip(killed, epochs[:-1], epochs[1:], strict=True):
        # Nothing lost, nothing trained again but the epoch whose checkpoint was cut.
        went_on = {TRAINING: {before[-1] + 1}, SAVING: {before[-1], before[-1] + 1}}
        assert after[0] in went_on[kill.moment], (kill, epochs)
        resumed_after.append(after[0] - 1)
        if after[0] == before[-1]:
            twice.add(after[0])
    counts = Counter(e for numbers in epochs for e in numbers)
    assert {e for e, n in counts.items() if n > 1} == twice and max(counts.values()) <= 2, \
        epochs
    return sorted(set(resumed_after))


def study_trials(experiment: Path) -> list[tuple[int, str, float | None, dict[int, float]]]:
    """The Optuna study's trials: (trial number, state, value, value at each epoch)."""
    storage = open_journal(experiment / JOURNAL)
    (name,) = optuna.get_all_study_names(storage)
    study = optuna.load_study(study_name=name, storage=storage)
    numbers = {t.trial_id: t.number for t in load_experiment(experiment).trials}
    return sorted((numbers[t.user_attrs[RAY_TRIAL_ID]], t.state.name, t.value, epoch_values(t))
                  for t in study.trials)


def leaderboard_trials(experiment: Path) -> list[tuple[int, str, float | None, dict[int, float]]]:
    """The leaderboard's trials as the Optuna study should have them: (trial number, state,
    best val_accuracy, val_accuracy at each epoch)."""
    records = load_experiment(experiment)
    states = {"completed": "COMPLETE", "stopped early": "PRUNED", "errored": "FAIL"}
    rows = []
    for row in leaderboard_rows(records):
        record = records.trial(row["trial"])
        state = next(s for text, s in states.items() if row["state"].startswith(text))
        rows.append((row["trial"], state, row["val_accuracy"],
                     {int(e["epoch"]): e["val_accuracy"] for e in record.epochs}))
    return sorted(rows)
