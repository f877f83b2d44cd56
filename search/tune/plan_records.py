"""The planned end's records: the scheduler writes what the policy's plan stands at into
the experiment folder's ``plan`` file (``search/experiment/plan_file.py`` reads it) each
time its phase or its finalists change."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_hpo.search.experiment.names import PLAN_FILE
from mnist_hpo.search.experiment.plan_file import read_plan
from mnist_hpo.search.policy import PlanReport, TimeEstimate

if TYPE_CHECKING:
    from ray.tune.experiment import Trial

log = logging.getLogger(__name__)


def trial_path(trial: Trial) -> str:
    """A trial's folder ("": Ray names it when it starts the trial, not before)."""
    try:
        return trial.path or ""
    except RuntimeError:  # Ray's "Should not access `trial_fs_path` without ..."
        return ""


def experiment_folder(trial: Trial) -> Path | None:
    """The experiment folder a trial's folder is in (None: not named yet, or a URI)."""
    path = trial_path(trial)
    return None if not path or "://" in path else Path(path).parent


def trial_number(trial: Trial) -> int | None:
    """The number of a trial's folder (``trial_0007``: 7), if it has one."""
    tail = trial_path(trial).rstrip("/").rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def estimate_fields(estimate: TimeEstimate | None) -> dict[str, Any] | None:
    """A time budget's estimate as the records show it."""
    if estimate is None:
        return None
    return {"time_left_s": round(estimate.time_left_s, 1), "workers": estimate.workers,
            "finalists_epoch_s": round(estimate.epoch_s, 2),
            "new_configuration_epoch_s": round(estimate.new_epoch_s, 2),
            "start_s": round(estimate.start_s, 2),
            "epochs_left": round(estimate.epochs_left, 1),
            "epochs_left_per_worker": round(estimate.epochs_left / estimate.workers, 1),
            "needed_s": round(estimate.needed_s, 1)}


class PlanRecorder:
    """Writes the ``plan`` file of one experiment when the plan's phase or its finalists
    change (during breadth, the finalists-to-be change with every first-rung result: only
    the phase is recorded then).

    Args:
        budget: What was planned for (``time_budget_s``, ``epoch_budget``,
            ``finalists``), written as the file's ``budget``.
    """

    def __init__(self, budget: dict[str, Any]) -> None:
        self.budget = budget
        self._written: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None

    def record(self, trials: Sequence[Trial], report: PlanReport | None) -> None:
        """Record ``report`` in the experiment folder of ``trials`` if it changed."""
        folder = next((f for t in trials if (f := experiment_folder(t)) is not None), None)
        if folder is None or report is None:
            return
        numbers = {t.trial_id: trial_number(t) for t in trials}
        finalists = tuple(f.id for f in report.finalists) if report.phase == "finalists" \
            else ()
        # A finalist the time left can no longer carry to its end is a change too.
        key = (report.phase, finalists, report.trainable if finalists else ())
        if key == self._written:
            return
        plan = read_plan(folder) or {}  # a resumed search goes on with the same records
        picked = [{"trial": numbers.get(f.id), "trial_id": f.id, "first_rung_score": f.score,
                   "picked": f.reason, "unlike": None if f.unlike is None else
                   round(f.unlike, 4), "can_finish": f.id in report.trainable}
                  for f in report.finalists]
        change = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "phase": report.phase,
                  "epochs_spent": report.epochs_spent, "slots": report.slots,
                  "time_left_s": None if report.time is None else
                  round(report.time.time_left_s, 1),
                  "estimate": estimate_fields(report.time),
                  "finalists": picked if finalists else []}
        plan |= {"budget": self.budget, "phase": report.phase,
                 "finalists": picked if finalists else [],
                 "changes": [*plan.get("changes", []), change]}
        path = folder / PLAN_FILE
        partial = path.with_name(PLAN_FILE + ".partial")
        try:
            # Written beside, then renamed: a kill mid-write leaves the last whole file.
            partial.write_text(json.dumps(plan, indent=1))
            os.replace(partial, path)
        except OSError as err:
            log.warning("the plan's records were not written (%s)", err)
            return
        self._written = key
