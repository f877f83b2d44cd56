"""``search.json``: what a search was asked to do and with what, next to what it did."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment.names import JOURNAL
from mnist_hpo.search.outputs import versions, write_json
from mnist_hpo.search.training.data import MnistData, Split
from mnist_hpo.search.training.runtime import recorded_kernels
from mnist_hpo.search.tune.factories import sampler_settings, warm_start_points
from mnist_hpo.search.tune.settings import ASHA_SCHEDULERS, METRIC, MODE, SearchSettings
from mnist_hpo.spaces import space_from_dict

#: ``--scheduler`` → the scheduler type ``search.json`` names (and back, to resume). The
#: names are the experiment folder's format, kept as earlier versions wrote them; the rules
#: themselves are the policy's (``search/policy/``, behind ``search/tune/scheduler.py``).
SCHEDULER_TYPES = {"asha": "ASHAScheduler", "asha-promotion": "PromotingASHA",
                   "fifo": "FIFOScheduler"}
#: The format of what a search leaves for ``mnist-hpo resume``: the objects Ray pickles into
#: the experiment folder (the searcher, the scheduler and its policy, the stoppers, the
#: callbacks) and the fields of ``search.json`` its settings are rebuilt from. Recorded in
#: ``search.json`` (``state_format``) when a search starts; ``resume`` refuses a folder
#: with another one, or none (written before it was recorded), in one line: nothing here
#: reads an earlier version's state. Raise it whenever one of those changes so that an
#: earlier folder's state would not unpickle, or would unpickle as something else.
STATE_FORMAT = 1
def build_manifest(settings: SearchSettings, data: MnistData, split: Split,
                   experiment: str, command: list[str] | None = None) -> dict[str, Any]:
    """The manifest written when a search starts; :func:`finish_manifest` completes it."""
    scheduler: dict[str, Any] = {"type": "FIFOScheduler"}
    if settings.scheduler in ASHA_SCHEDULERS:
        scheduler = {"type": SCHEDULER_TYPES[settings.scheduler],
                     "time_attr": "training_iteration",
                     "max_t": settings.epochs, "grace_period": settings.grace_period,
                     "reduction_factor": settings.reduction_factor}
        if settings.goal.cost_key:
            scheduler["rungs_rank_by"] = f"fronts of ({METRIC}, {settings.goal.cost_key})"
    return {
        "name": settings.name,
        "experiment": experiment,
        "status": "running",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command if command is not None else sys.argv,
        "metric": METRIC, "mode": MODE,
        "objective": settings.goal.describe() | {
            "flag": settings.objective, "max_params": settings.max_params,
            "max_latency_ms": settings.max_latency_ms},
        "space": settings.space.to_yaml_dict() | {"source": settings.space.source},
        "searched": settings.space.searched,
        "warm_start": warm_start_points(settings),
        "budget": {"trials": settings.trials, "epochs": settings.epochs,
                   "time_budget_s": settings.time_budget_s,
                   "epoch_budget": settings.epoch_budget,
                   "max_concurrent": settings.max_concurrent,
                   "finalists": settings.finalists},
        "sampler": sampler_settings(settings),
        "scheduler": scheduler,
        "resources": {"cpus_per_trial": settings.cpus_per_trial,
                      "gpus_per_trial": settings.gpus_per_trial,
                      "threads_per_trial": settings.threads_per_trial,
                      "reuse_workers": settings.reuse_workers,
                      "max_failures": settings.max_failures,
                      "max_failed_trials": settings.max_failed_trials,
                      "address": settings.address or "local"},
        "seed": settings.seed,
        "data": {"source": data.source, "sha256": data.sha256,
                 "train_images": len(split.x_train), "validation_images": len(split.x_val),
                 "test_images": len(split.x_test), "subset": settings.subset,
                 "validation": settings.validation, "split_seed": settings.seed},
        "optuna_journal": JOURNAL,
        "versions": versions(),
        "tensorflow": recorded_kernels(),
        "state_format": STATE_FORMAT,
    }


def check_state_format(manifest: dict[str, Any], experiment: Path) -> None:
    """Refuse a folder whose Ray Tune state another version of mnist-hpo wrote.

    Raises:
        UsageError: ``search.json`` records another :data:`STATE_FORMAT`, or none.
    """
    found = manifest.get("state_format")
    if found != STATE_FORMAT:
        written = "none recorded" if found is None else f"format {found}"
        raise UsageError(f"{experiment}: its Ray Tune state was written by another version "
                         f"of mnist-hpo ({written}; this version resumes format "
                         f"{STATE_FORMAT}); it cannot be resumed here, but leaderboard, "
                         f"report and export read it")


def settings_from_manifest(manifest: dict[str, Any], storage: str) -> SearchSettings:
    """The :class:`SearchSettings` a manifest was written from (to resume or extend that
    search).

    Raises:
        UsageError: a field this version writes is missing (another version wrote it).
    """
    try:
        return _settings(manifest, storage)
    except KeyError as err:
        raise UsageError(f"search.json has no {err} field: written by another version of "
                         f"mnist-hpo, whose search this version cannot rebuild") from None


def _settings(manifest: dict[str, Any], storage: str) -> SearchSettings:
    space_yaml = {k: v for k, v in manifest["space"].items() if k != "source"}
    scheduler, sampler = manifest["scheduler"], manifest["sampler"]
    budget, resources, data = manifest["budget"], manifest["resources"], manifest["data"]
    objective = manifest["objective"]
    kinds = {v: k for k, v in SCHEDULER_TYPES.items()}
    if scheduler["type"] not in kinds:
        raise UsageError(f"search.json: unknown scheduler type {scheduler['type']!r} "
                         f"(known: {', '.join(kinds)})")
    return SearchSettings(
        space=space_from_dict(space_yaml, source=manifest["space"]["source"]),
        name=manifest["name"], storage=storage, trials=budget["trials"], epochs=budget["epochs"],
        scheduler=kinds[scheduler["type"]],
        grace_period=scheduler.get("grace_period", 1),  # FIFO records no rungs
        reduction_factor=scheduler.get("reduction_factor", 3.0),
        sampler="tpe" if sampler["type"] == "TPESampler" else "random",
        cpus_per_trial=resources["cpus_per_trial"], gpus_per_trial=resources["gpus_per_trial"],
        max_concurrent=budget["max_concurrent"], time_budget_s=budget["time_budget_s"],
        epoch_budget=budget["epoch_budget"], finalists=budget["finalists"],
        seed=manifest["seed"],
        address=None if resources["address"] == "local" else resources["address"],
        data=data["source"], subset=data["subset"], validation=data["validation"],
        reuse_workers=resources["reuse_workers"], max_failures=resources["max_failures"],
        max_failed_trials=resources["max_failed_trials"],
        honest_early_stopping=sampler["early_stopped_trials_told_as"] != "COMPLETE",
        warm_start=bool(manifest["warm_start"]),
        objective=objective["flag"], max_params=objective["max_params"],
        max_latency_ms=objective["max_latency_ms"])


def finish_manifest(path: Path, manifest: dict[str, Any], **outcome: Any) -> None:
    """Rewrite the manifest with the outcome (status, finish time, best trial...)."""
    manifest |= {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **outcome}
    write_json(path, manifest)
