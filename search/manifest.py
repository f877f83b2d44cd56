"""``search.json``: what a search was asked to do and with what, next to what it did."""

from __future__ import annotations

import platform
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from search.data import MnistData, Split
from search.outputs import write_json
from search.settings import METRIC, MODE, SearchSettings
from search.wiring import JOURNAL, make_sampler, warm_start_points

MANIFEST = "search.json"
PACKAGES = ("mnist-hpo", "tensorflow", "keras", "ray", "optuna", "numpy")


def versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    found = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            found[pkg] = "not installed"
    return found


def build_manifest(settings: SearchSettings, data: MnistData, split: Split,
                   experiment: str, command: list[str] | None = None) -> dict[str, Any]:
    """The manifest written when a search starts; :func:`finish_manifest` completes it."""
    sampler = make_sampler(settings)
    sampler_settings: dict[str, Any] = {"type": type(sampler).__name__, "seed": settings.seed}
    if settings.sampler == "tpe":
        sampler_settings |= {"multivariate": True, "group": True, "constant_liar": True,
                             "n_startup_trials": 10}
    scheduler: dict[str, Any] = {"type": "FIFOScheduler"}
    if settings.scheduler == "asha":
        scheduler = {"type": "ASHAScheduler", "time_attr": "training_iteration",
                     "max_t": settings.epochs, "grace_period": settings.grace_period,
                     "reduction_factor": settings.reduction_factor}
    return {
        "name": settings.name,
        "experiment": experiment,
        "status": "running",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": command if command is not None else sys.argv,
        "metric": METRIC, "mode": MODE,
        "space": settings.space.to_yaml_dict() | {"source": settings.space.source},
        "searched": settings.space.searched,
        "warm_start": warm_start_points(settings),
        "budget": {"trials": settings.trials, "epochs": settings.epochs,
                   "time_budget_s": settings.time_budget_s,
                   "max_concurrent": settings.max_concurrent},
        "sampler": sampler_settings,
        "scheduler": scheduler,
        "resources": {"cpus_per_trial": settings.cpus_per_trial,
                      "gpus_per_trial": settings.gpus_per_trial,
                      "threads_per_trial": settings.threads_per_trial,
                      "reuse_workers": settings.reuse_workers,
                      "max_failures": settings.max_failures,
                      "address": settings.address or "local"},
        "seed": settings.seed,
        "data": {"source": data.source, "sha256": data.sha256,
                 "train_images": len(split.x_train), "validation_images": len(split.x_val),
                 "test_images": len(split.x_test), "subset": settings.subset,
                 "validation": settings.validation, "split_seed": settings.seed},
        "optuna_journal": JOURNAL,
        "versions": versions(),
    }


def finish_manifest(path: Path, manifest: dict[str, Any], **outcome: Any) -> None:
    """Rewrite the manifest with the outcome (status, finish time, best trial...)."""
    manifest |= {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **outcome}
    write_json(path, manifest)
