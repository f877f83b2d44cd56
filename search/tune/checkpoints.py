"""Each trial keeps two checkpoints: its best epoch's (by val_accuracy, the newest of equally
scored ones: the model the leaderboard ranks and export loads) and its latest (what a
paused, retried or resumed trial goes on from). The others are deleted.

Why not Ray's ``CheckpointConfig(num_to_keep=1)``, which keeps the same two: with
``num_to_keep`` set, Ray saves the whole experiment state (every trial's record) each time
a trial has checkpointed ``num_to_keep`` times since the last save, so that a restore never
names a checkpoint it deleted. With a checkpoint per epoch that is a save per result,
O(trials) each: 35 of the driver's 52 CPU seconds in the bookkeeping benchmark
(``benchmarks/ray_bookkeeping.py``), 42 ms per result against stock Ray's 3.5 ms.

So Ray keeps every checkpoint (``num_to_keep=None``, experiment state saved on its own
period) and :class:`CheckpointPruner` deletes, keeping the same promise: a checkpoint is
deleted only after two more experiment-state saves than the one that followed it being
superseded. Every state saved since names a newer latest checkpoint, so a search killed at
any moment and resumed goes on from a checkpoint that exists; the second save covers a
copy of the state still in flight when the next one was written. Ray tells a callback of
each save by asking its state (``get_state``); the deletions still due are that state, so
a resumed search carries them out.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from ray import tune
from ray.tune.experiment import Trial

from mnist_hpo.search.tune.settings import METRIC

log = logging.getLogger(__name__)

#: Experiment-state saves between a checkpoint being superseded and its deletion.
SAVES_BEFORE_DELETION = 2


@dataclass
class _Kept:
    best: tune.Checkpoint
    score: float | None  # the best's val_accuracy; None: no epoch scored yet
    latest: tune.Checkpoint


class CheckpointPruner(tune.Callback):
    """Deletes every checkpoint of a trial but its best and its latest, two experiment-state
    saves after it stopped being either (see the module's docstring)."""

    def __init__(self, metric: str = METRIC) -> None:
        self.metric = metric
        self._kept: dict[str, _Kept] = {}
        # Checkpoints superseded since the last save, and those of the saves before it.
        self._superseded: list[tune.Checkpoint] = []
        self._due: deque[list[tune.Checkpoint]] = deque()

    def on_checkpoint(self, iteration: int, trials: list[Trial], trial: Trial,
                      checkpoint: tune.Checkpoint, **info: Any) -> None:
        # Ray tells the callbacks right after the result the checkpoint was saved with.
        score = _score((trial.last_result or {}).get(self.metric))
        kept = self._kept.get(trial.trial_id)
        if kept is None:
            self._kept[trial.trial_id] = _Kept(checkpoint, score, checkpoint)
            return
        before = {kept.best.path: kept.best, kept.latest.path: kept.latest}
        if score is not None and (kept.score is None or score >= kept.score):
            kept.best, kept.score = checkpoint, score
        kept.latest = checkpoint
        self._superseded += [c for path, c in before.items()
                             if path not in (kept.best.path, checkpoint.path)]

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial,
                          **info: Any) -> None:
        self._kept.pop(trial.trial_id, None)  # an ended trial checkpoints no more

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial,
                       **info: Any) -> None:
        # A retried trial goes on from its latest checkpoint, which is kept as it was;
        # forgetting the trial only means its next checkpoints start a new pair.
        self._kept.pop(trial.trial_id, None)

    def get_state(self) -> dict[str, Any] | None:
        """Ray asks at each experiment-state save: the moment deletions become due."""
        self._due.append(self._superseded)
        self._superseded = []
        while len(self._due) > SAVES_BEFORE_DELETION:
            for checkpoint in self._due.popleft():
                _delete(checkpoint)
        pending = [c for saved in self._due for c in saved]
        # Saved with Ray's record of the trials, so a resumed trial's best and latest are
        # pruned as if the search had never stopped.
        return {"due": pending, "kept": dict(self._kept)} if pending or self._kept else None

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        # Ray saves the experiment state one last time, and waits for it, before it ends a
        # search (also when interrupted): nothing superseded since then means that save
        # came after every checkpoint, and everything due may go now. A search ended by
        # an exception skipped that save; its deletions wait for the resumed search.
        if not self._superseded:
            while self._due:
                for checkpoint in self._due.popleft():
                    _delete(checkpoint)

    def set_state(self, state: dict[str, Any]) -> None:
        # Restored with a resumed search: its deletions wait for two saves again.
        self._due = deque([list(state.get("due", []))])
        self._kept = dict(state.get("kept", {}))


def _score(value: Any) -> float | None:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(score) else score


def _delete(checkpoint: tune.Checkpoint) -> None:
    filesystem = checkpoint.filesystem
    if filesystem is None:  # Ray sets it for every checkpoint it reports; a guard for types
        return
    try:
        filesystem.delete_dir(checkpoint.path)
    except FileNotFoundError:
        pass  # already gone: a resumed search repeating a deletion
    except OSError as err:  # a full or read-only storage must not end the search
        log.warning("could not delete superseded checkpoint %s: %s", checkpoint.path, err)
