"""The study's journal file (search/tune/journal.py): what it writes is Optuna's journal,
read back by Optuna's own backend; a writer killed with SIGKILL loses nothing it appended;
the disk is synced once per period, not once per log."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from mnist_hpo.search.tune.journal import SYNC_EVERY_S, JournalFile, open_journal


def optunas_own(path: Path) -> JournalStorage:
    """The journal as Optuna (and optuna-dashboard) reads it, independently of ours."""
    return JournalStorage(JournalFileBackend(str(path)))


def fill(study: optuna.Study, trials: int) -> None:
    """Trials as the searcher writes them: parameters, a user attribute, epoch values,
    an end (every third one pruned)."""
    for n in range(trials):
        trial = study.ask()
        trial.suggest_int("filters", 16, 64)
        trial.suggest_float("dropout", 0.0, 0.5)
        trial.suggest_categorical("optimizer", ["adam", "sgd"])
        trial.set_user_attr("ray_trial_id", f"t{n}")
        trial.report(0.5 + n / 100, step=1)
        if n % 3 == 2:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, 0.6 + n / 100)


def summary(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[object, ...]]:
    return [(t.number, t.state, t.values, t.params, t.intermediate_values, t.user_attrs,
             t.distributions) for t in trials]


def test_optuna_reads_back_every_trial_as_written(tmp_path: Path) -> None:
    path = tmp_path / "optuna.journal"
    ours = optuna.create_study(study_name="s", storage=open_journal(path), direction="maximize")
    fill(ours, 7)
    theirs = optuna.load_study(study_name="s", storage=optunas_own(path))
    assert summary(theirs.get_trials()) == summary(ours.get_trials())
    assert len(theirs.get_trials()) == 7
    assert theirs.best_value == ours.best_value


def test_ours_and_optunas_writer_share_the_file(tmp_path: Path) -> None:
    """Another Optuna process (``extend``, a user's script) writes under the same lock file;
    each storage sees the other's trials."""
    path = tmp_path / "optuna.journal"
    ours = optuna.create_study(study_name="s", storage=open_journal(path), direction="maximize")
    theirs = optuna.load_study(study_name="s", storage=optunas_own(path))
    fill(ours, 2)
    fill(theirs, 2)
    fill(ours, 1)
    numbers = [t.number for t in ours.get_trials()]
    assert numbers == [0, 1, 2, 3, 4]
    read_again = optuna.load_study(study_name="s", storage=optunas_own(path))
    assert summary(read_again.get_trials()) == summary(ours.get_trials())


def test_a_writer_killed_with_sigkill_loses_nothing_it_appended(tmp_path: Path) -> None:
    """The lines reach the operating system at each append: a driver killed right after its
    last write, before any fsync period ran out, left every trial in the file."""
    path = tmp_path / "optuna.journal"
    child = textwrap.dedent(f"""
        import os, signal, sys
        import optuna
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_journal import fill
        from mnist_hpo.search.tune.journal import open_journal
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(study_name="s", storage=open_journal({str(path)!r}),
                                    direction="maximize")
        fill(study, 12)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    trials = optuna.load_study(study_name="s", storage=optunas_own(path)).get_trials()
    assert len(trials) == 12
    assert all(t.state.is_finished() for t in trials)
    assert [t.user_attrs["ray_trial_id"] for t in trials] == [f"t{n}" for n in range(12)]


def test_the_disk_is_synced_once_per_period_not_per_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    now = [100.0]
    journal = JournalFile(str(tmp_path / "optuna.journal"), clock=lambda: now[0])
    log = {"op_code": 0, "worker_id": "w", "study_name": "s", "directions": [1]}

    journal.append_logs([log])  # the first append syncs
    assert len(synced) == 1
    for _ in range(3):
        now[0] += SYNC_EVERY_S / 4
        journal.append_logs([log])
    assert len(synced) == 1
    now[0] += SYNC_EVERY_S / 4  # a period since the last sync
    journal.append_logs([log, log])
    assert len(synced) == 2
    assert len(list(journal.read_logs(0))) == 6


def test_pickled_with_the_searcher_it_writes_to_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "optuna.journal"
    storage = open_journal(path)
    fill(optuna.create_study(study_name="s", storage=storage, direction="maximize"), 1)
    storage = pickle.loads(pickle.dumps(storage))
    again = optuna.load_study(study_name="s", storage=storage)
    fill(again, 1)
    assert len(optuna.load_study(study_name="s", storage=optunas_own(path)).trials) == 2
