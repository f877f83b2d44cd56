"""Extend a finished real search with a narrowed space: the sampler learns from the earlier
trials, and the experiment shows old and new trials together."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest
from conftest import REPO, run_cli

from mnist_hpo.reports import TrialState, leaderboard_rows, load_experiment

pytestmark = pytest.mark.slow


def test_extend_with_a_narrowed_space(search_run: tuple[Path, str], tmp_path: Path) -> None:
    original, _ = search_run
    experiment = tmp_path / original.name
    shutil.copytree(original, experiment)  # the shared search stays as the other tests see it
    before = {t.number: t.epochs for t in load_experiment(experiment).trials}
    # The narrowed space drops the 1e-6 learning rate: trials that drew it lie outside it.
    learned = {t.number: t for t in load_experiment(original).trials
               if t.params["learning_rate"] == 0.004}
    outside = 4 - len(learned)

    proc = run_cli("extend", str(experiment), "--trials", "2", "--space",
                   str(REPO / "tests/data/asha_space_narrow.yaml"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (f"2 more trials after trial 4; the sampler starts from {len(learned)} earlier "
            f"trials" + (f" ({outside} lie outside the new space)" if outside else "")
            ) in proc.stdout
    assert "Trial 5 finished" in proc.stdout and "Trial 6 finished" in proc.stdout

    records = load_experiment(experiment)
    assert [t.number for t in records.trials] == [1, 2, 3, 4, 5, 6]
    for t in records.trials[:4]:
        assert t.epochs == before[t.number]  # earlier trials untouched
    for t in records.trials[4:]:
        assert t.params["learning_rate"] == 0.004 and t.state is not TrialState.ERRORED
    assert {r["trial"] for r in leaderboard_rows(records)} == {1, 2, 3, 4, 5, 6}

    manifest = json.loads((experiment / "search.json").read_text())
    assert manifest["status"] == "finished" and manifest["budget"]["trials"] == 6
    (ext,) = manifest["extensions"]
    assert (ext["trials"], ext["after_trial"], ext["told"], ext["outside_space"]) == (
        2, 4, len(learned), outside)

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(experiment / "optuna.journal")))
    study = optuna.load_study(study_name=ext["optuna_study"], storage=storage)
    told, new = study.trials[:len(learned)], study.trials[len(learned):]
    # Each told as it ended: COMPLETE with its best score, PRUNED with its last if stopped.
    S = optuna.trial.TrialState
    expected = sorted(("COMPLETE", t.best_val_accuracy) if t.state is TrialState.COMPLETED
                      else ("PRUNED", t.last_val_accuracy) for t in learned.values())
    got = sorted((t.state.name, t.value) for t in told)
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected])
    assert all(t.state in (S.COMPLETE, S.PRUNED) for t in told)
    assert len(new) == 2 and all(t.params["learning_rate"] == 0.004 for t in new)


def test_extend_refuses_an_unfinished_search(tmp_path: Path) -> None:
    (tmp_path / "search.json").write_text(json.dumps({"status": "interrupted"}))
    proc = run_cli("extend", str(tmp_path), "--trials", "2")
    assert proc.returncode == 2
    assert f"the search is interrupted; finish it with `mnist-hpo resume {tmp_path}`" in (
        proc.stderr)
