"""CheckpointPruner: each trial keeps its best and its latest checkpoint; the others go,
but only two experiment-state saves after they were superseded (a resumed search must
never be pointed at a deleted checkpoint)."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ray import tune

from mnist_hpo.search.tune.checkpoints import CheckpointPruner
from mnist_hpo.search.tune.outcome import best_checkpoint


class Trial(SimpleNamespace):
    trial_id: str
    last_result: dict[str, Any]


def report(pruner: CheckpointPruner, trial: Trial, folder: Path, epoch: int,
           score: float) -> tune.Checkpoint:
    """A trial's epoch: its result, then its checkpoint, as Ray tells the callbacks."""
    path = folder / f"{trial.trial_id}_checkpoint_{epoch:06d}"
    path.mkdir()
    trial.last_result = {"val_accuracy": score, "epoch": epoch}
    checkpoint = tune.Checkpoint.from_directory(str(path))
    pruner.on_checkpoint(0, [], trial, checkpoint)  # type: ignore[arg-type]
    return checkpoint


def left(folder: Path, trial: str) -> list[int]:
    return sorted(int(p.name.rsplit("_", 1)[1]) for p in folder.glob(f"{trial}_checkpoint_*"))


def test_keeps_best_and_latest_and_deletes_the_rest_two_saves_later(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    for epoch, score in enumerate([0.90, 0.95, 0.93, 0.94], start=1):
        report(pruner, a, tmp_path, epoch, score)
    # Superseded: 1 (by 2), 3 (by 4). Nothing goes before the second save after that.
    assert pruner.get_state() is not None
    assert left(tmp_path, "a") == [1, 2, 3, 4]
    pruner.get_state()
    assert left(tmp_path, "a") == [1, 2, 3, 4]
    state = pruner.get_state()  # the third save: due, deleted, nothing pending
    assert state is not None and state["due"] == [] and set(state["kept"]) == {"a"}
    assert left(tmp_path, "a") == [2, 4]  # the best and the latest


def test_the_newest_of_equally_scored_epochs_is_the_best(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    for epoch, score in enumerate([0.95, 0.95, 0.90], start=1):
        report(pruner, a, tmp_path, epoch, score)
    for _ in range(3):
        pruner.get_state()
    assert left(tmp_path, "a") == [2, 3]
    # outcome.best_checkpoint picks the same one from Ray's list (in the order taken).
    ray_list = [(f"ck{e}", {"val_accuracy": s}) for e, s in ((1, 0.95), (2, 0.95), (3, 0.90))]
    assert best_checkpoint(ray_list) == "ck2"
    assert best_checkpoint([("ck1", {"val_accuracy": math.nan})]) is None


def test_an_unscored_epoch_is_never_the_best(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    report(pruner, a, tmp_path, 1, 0.9)
    report(pruner, a, tmp_path, 2, math.nan)
    report(pruner, a, tmp_path, 3, 0.8)
    for _ in range(3):
        pruner.get_state()
    assert left(tmp_path, "a") == [1, 3]


def test_trials_are_pruned_apart_and_the_end_deletes_what_the_last_save_covers(
        tmp_path: Path) -> None:
    pruner, a, b = CheckpointPruner(), Trial(trial_id="a"), Trial(trial_id="b")
    for epoch in (1, 2, 3):
        report(pruner, a, tmp_path, epoch, 0.9 + epoch / 100)
        report(pruner, b, tmp_path, epoch, 0.9 - epoch / 100)
    pruner.get_state()  # Ray's final save, after every checkpoint
    pruner.on_experiment_end([])
    assert left(tmp_path, "a") == [3]  # best and latest at once
    assert left(tmp_path, "b") == [1, 3]


def test_an_end_without_a_final_save_keeps_what_it_does_not_cover(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    for epoch in (1, 2, 3):
        report(pruner, a, tmp_path, epoch, 0.9 + epoch / 100)
    pruner.get_state()
    report(pruner, a, tmp_path, 4, 0.99)  # then an exception: no final save
    pruner.on_experiment_end([])
    assert left(tmp_path, "a") == [1, 2, 3, 4]


def test_deletions_still_due_survive_a_resume(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    for epoch in (1, 2, 3):
        report(pruner, a, tmp_path, epoch, 0.9 + epoch / 100)
    state = pruner.get_state()
    assert state is not None
    resumed = CheckpointPruner()  # the search killed; Ray restores the saved state
    resumed.set_state(state)
    resumed.get_state()
    assert left(tmp_path, "a") == [1, 2, 3]
    resumed.get_state()
    assert left(tmp_path, "a") == [3]
    resumed.get_state()  # a deletion repeated by a resume finds nothing: no error


def test_a_resumed_trial_goes_on_pruning_its_own_best_and_latest(tmp_path: Path) -> None:
    pruner, a = CheckpointPruner(), Trial(trial_id="a")
    report(pruner, a, tmp_path, 1, 0.95)
    report(pruner, a, tmp_path, 2, 0.90)
    state = pruner.get_state()  # the last save before a kill
    assert state is not None
    resumed = CheckpointPruner()
    resumed.set_state(state)
    report(resumed, a, tmp_path, 3, 0.91)  # goes on from epoch 2's checkpoint
    for _ in range(3):
        resumed.get_state()
    assert left(tmp_path, "a") == [1, 3]  # epoch 2 superseded, epoch 1 still the best
