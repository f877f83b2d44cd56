"""Experiment folder → plain trial records. The one place that reads a folder as trials.

The leaderboard, plots, report and export (``mnist_hpo.reports``) and the driver's
conclusion (``search/tune/outcome.py``) work on :class:`TrialRecord`s, so they run without
TensorFlow or Ray, on a finished experiment or on one whose trials are still writing.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from mnist_hpo.search.experiment.names import (
    CHECKPOINT_STATE,
    COST_KEYS,
    ERROR,
    MANIFEST,
    PARAMS,
    STOPPED_MARK,
    TRIAL_PREFIX,
)
from mnist_hpo.search.experiment.status import SearchStatus
from mnist_hpo.search.experiment.trial_files import (
    epochs_of,
    last_error,
    number,
    read_params,
    read_rows,
)

log = logging.getLogger(__name__)

class ExperimentError(ValueError):
    """The experiment folder cannot be read as a search: one line, exit 2."""


class TrialState(Enum):
    """Where a trial stands."""

    COMPLETED = "completed"
    STOPPED = "stopped early"  # by the scheduler (ASHA) or a cost limit
    CUT = "cut by the budget"  # in flight when the time or epoch budget ran out
    ERRORED = "errored"
    RUNNING = "running"
    INTERRUPTED = "interrupted"  # its search is paused; `mnist-hpo resume` continues it


@dataclass(frozen=True)
class TrialRecord:
    """One trial as plain data: what it tried, how each epoch went, how it ended."""

    number: int
    trial_id: str
    params: dict[str, Any]
    epochs: list[dict[str, float]]
    state: TrialState
    error: str | None = None
    wall_time_s: float = 0.0
    node: str = ""
    node_id: str = ""
    failures: int = 0
    #: Each kept checkpoint folder by the epoch its ``state.json`` names (Ray keeps the
    #: trial's best and its latest).
    checkpoints: dict[int, Path] = field(default_factory=dict)
    path: Path = field(default=Path("."))
    #: :data:`COST_KEYS` → value; empty for trials recorded before costs were measured.
    cost: dict[str, float] = field(default_factory=dict)
    #: Epochs after which the trial went on from a checkpoint in a new process (paused at
    #: a rung, retried, or its search resumed): its random streams were reseeded there.
    resumed_after: list[int] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        """Completed, stopped or errored: neither running nor waiting for a resume."""
        return self.state not in (TrialState.RUNNING, TrialState.INTERRUPTED)

    @property
    def epochs_run(self) -> int:
        return len(self.epochs)

    @property
    def best_epoch(self) -> dict[str, float] | None:
        """The epoch with the highest val_accuracy, the later one on a tie: the epoch whose
        checkpoint Ray keeps as the best (it keeps the newest of equally scored ones)."""
        scored = [e for e in self.epochs if not math.isnan(e.get("val_accuracy", math.nan))]
        return max(scored, key=lambda e: (e["val_accuracy"], e["epoch"])) if scored else None

    @property
    def checkpoint(self) -> Path | None:
        """The checkpoint of the best epoch (the model export, replay and the report mean
        by "the trial's model"); ``None`` when that epoch's checkpoint is not on disk."""
        best = self.best_epoch
        return self.checkpoints.get(int(best["epoch"])) if best else None

    @property
    def best_val_accuracy(self) -> float | None:
        best = self.best_epoch
        return best["val_accuracy"] if best else None

    @property
    def last_val_accuracy(self) -> float | None:
        return self.epochs[-1]["val_accuracy"] if self.epochs else None

    @property
    def status_text(self) -> str:
        """``completed``, ``stopped early at epoch 2``, ``cut by the budget at epoch 1``,
        ``errored: <reason>``, ``running``."""
        if self.state in (TrialState.STOPPED, TrialState.CUT):
            when = f"at epoch {self.epochs_run}" if self.epochs else "before its first epoch"
            return f"{self.state.value} {when}"
        if self.state is TrialState.ERRORED:
            return f"errored: {self.error}"
        if self.failures:
            return f"{self.state.value} after {self.failures} failure" + (
                "s" if self.failures > 1 else "")
        return str(self.state.value)


@dataclass(frozen=True)
class Experiment:
    """A search's manifest and its trials, ordered by trial number."""

    path: Path
    manifest: dict[str, Any]
    trials: list[TrialRecord]
    skipped: list[str] = field(default_factory=list)

    @property
    def max_epochs(self) -> int:
        return int(self.manifest.get("budget", {}).get("epochs", 0))

    @property
    def finished(self) -> list[TrialRecord]:
        """Trials with at least one scored epoch."""
        return [t for t in self.trials if t.best_val_accuracy is not None]

    def tally(self) -> dict[TrialState, int]:
        """How many trials stand in each state, every state present (zeros included)."""
        return tally(self.trials)

    def trial(self, number: int) -> TrialRecord:
        """Trial ``number``; a bad-input error listing the trials there are otherwise."""
        for t in self.trials:
            if t.number == number:
                return t
        numbers = ", ".join(str(t.number) for t in self.trials) or "none"
        raise ExperimentError(f"--trial {number}: no such trial in {self.path} "
                              f"(trials: {numbers})")

    def best(self) -> TrialRecord:
        """The trial with the highest val_accuracy at any epoch."""
        finished = self.finished
        if not finished:
            raise ExperimentError(f"{self.path}: no trial has reported val_accuracy yet")
        return max(finished, key=lambda t: (t.best_val_accuracy, -t.number))


def tally(trials: list[TrialRecord]) -> dict[TrialState, int]:
    """Trials counted by state, in :class:`TrialState`'s order, zeros included: the one count
    the search's summary, the report and the leaderboard's states agree on."""
    counts = dict.fromkeys(TrialState, 0)
    for t in trials:
        counts[t.state] += 1
    return counts


def tally_text(counts: dict[TrialState, int]) -> str:
    """``2 completed, 5 stopped early, 9 cut by the budget, 0 errored``: the four ends
    always, a state a trial has not ended in (running, interrupted) only when present."""
    ends = (TrialState.COMPLETED, TrialState.STOPPED, TrialState.CUT, TrialState.ERRORED)
    return ", ".join(f"{counts.get(state, 0)} {state.value}" for state in TrialState
                     if state in ends or counts.get(state))


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment folder written by ``mnist-hpo search``.

    A trial folder that cannot be read is skipped with a warning (and listed in
    ``skipped``); the rest is returned.

    Raises:
        ExperimentError: the folder is missing, empty, or has no readable ``search.json``.
    """
    root = Path(path)
    manifest = read_manifest(root)
    status = SearchStatus.of(manifest)
    max_epochs = int(manifest.get("budget", {}).get("epochs", 0))
    trials, skipped = [], []
    for folder in sorted(root.glob(f"{TRIAL_PREFIX}*")):
        if not (folder / PARAMS).exists() and not (folder / ERROR).exists():
            continue  # created but not started yet: nothing to show
        try:
            trials.append(_read_trial(folder, max_epochs, status))
        except (OSError, ValueError, KeyError) as err:
            log.warning("skipping %s: %s", folder.name, err)
            skipped.append(f"{folder.name}: {err}")
    return Experiment(root, manifest, sorted(trials, key=lambda t: t.number), skipped)


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The ``search.json`` of an experiment folder: the one place that reads it.

    Raises:
        ExperimentError: the folder is missing or empty, or its ``search.json`` is missing,
            corrupt or holds a status this version does not know (one line naming which).
    """
    root = Path(path)
    if not root.is_dir():
        raise ExperimentError(f"{root}: no such experiment folder")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        what = "is empty" if not any(root.iterdir()) else f"has no {MANIFEST}"
        raise ExperimentError(f"{root}: {what}; not an experiment written by mnist-hpo search")
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExperimentError(f"{manifest_path}: corrupt JSON ({err})") from None
    try:
        SearchStatus.of(manifest)  # every reader may then take the status as valid
    except ValueError as err:
        raise ExperimentError(f"{manifest_path}: {err}") from None
    return manifest


def _read_trial(folder: Path, max_epochs: int, search_status: SearchStatus) -> TrialRecord:
    params = read_params(folder)
    rows = read_rows(folder)
    epochs = epochs_of(rows)
    last = rows[-1] if rows else {}
    error_file = folder / ERROR
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    # Ray appends "Failure # N (occurred at ...)" and the error for every failed attempt.
    failures = sum(1 for ln in errors.splitlines() if ln.startswith("Failure #"))
    if epochs and len(epochs) >= max_epochs:
        # Ray writes no `done` row when a function trainable simply returns, so the epoch
        # count decides: a trial that ran every epoch completed (maybe after retries).
        state, error = TrialState.COMPLETED, None
    elif errors:
        state, error = TrialState.ERRORED, last_error(errors)
    elif last.get("done") == "True" or (folder / STOPPED_MARK).exists():
        state, error = TrialState.STOPPED, None  # the scheduler's decision, or a cost limit
    elif search_status.budget_spent:
        state, error = TrialState.CUT, None  # in flight, or waiting at a rung, at the end
    elif search_status.concluded:
        state, error = TrialState.STOPPED, None
    elif search_status.resumable:
        state, error = TrialState.INTERRUPTED, None
    else:
        state, error = TrialState.RUNNING, None
    return TrialRecord(
        number=int(folder.name.removeprefix(TRIAL_PREFIX)),
        trial_id=str(last.get("trial_id", "")),
        params=params, epochs=epochs, state=state, error=error,
        wall_time_s=number(last.get("time_total_s")) if rows else 0.0,
        node=str(last.get("node_ip") or last.get("hostname") or ""),
        node_id=str(last.get("node_id") or ""),
        failures=failures,
        checkpoints=_checkpoints(folder),
        path=folder,
        cost={k: number(last[k]) for k in COST_KEYS if last.get(k) not in (None, "")},
        # Ray counts iterations_since_restore from 1 again in the process that restored it.
        resumed_after=sorted({int(number(r["epoch"])) - 1 for r in rows
                              if r.get("iterations_since_restore") == "1"
                              and number(r.get("epoch")) > 1}),
    )


def _checkpoints(folder: Path) -> dict[int, Path]:
    """Kept checkpoints by the epoch their ``state.json`` names.

    The folder names (``checkpoint_000006``) count reports, not epochs, and the newest one is
    not the best one: only the state file says which epoch a model is. A folder without a
    readable state file is still being written (or is not ours) and is left out; of two
    folders for one epoch (a retried epoch), the newer one is the model that went on.
    """
    found: dict[int, Path] = {}
    for checkpoint in sorted(folder.glob("checkpoint_*")):
        try:
            state = json.loads((checkpoint / CHECKPOINT_STATE).read_text())
            found[int(state["epoch"])] = checkpoint
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found
