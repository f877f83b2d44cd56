"""Run a search: load the data once, start or join Ray, hand trials to Ray Tune, summarise."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.data import load_mnist, split_mnist
from search.errors import UsageError
from search.manifest import MANIFEST, build_manifest, finish_manifest
from search.progress import TrialPrinter
from search.settings import METRIC, MODE, SearchSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchOutcome:
    """What the user is told at the end."""

    experiment: str
    trials: int
    errored: int
    best_trial: int | None
    best_score: float | None
    best_config: dict[str, Any] | None
    best_checkpoint: str | None


def experiment_location(settings: SearchSettings) -> tuple[str, Path | None]:
    """(Ray ``storage_path``, the local experiment folder or ``None`` for a URI)."""
    if "://" in settings.storage:
        return settings.storage, None
    storage = Path(settings.storage).expanduser().resolve()
    return str(storage), storage / settings.name


def run_search(settings: SearchSettings, command: list[str] | None = None,
               callbacks: list[Any] | None = None, quiet: bool = False) -> SearchOutcome:
    """Run the search ``settings`` describes and return its best trial.

    The experiment folder holds Ray Tune's state (``Tuner.restore`` reopens it), each
    trial's per-epoch ``progress.csv``/``result.json`` and TensorBoard events, its best
    checkpoint, the Optuna journal (``optuna-dashboard``) and ``search.json``.

    Args:
        settings: The search.
        command: Recorded in the manifest (default: ``sys.argv``).
        callbacks: More ``ray.tune.Callback``s (benchmarks probe trials this way).
        quiet: No per-trial lines.
    """
    storage_path, experiment = experiment_location(settings)
    where = str(experiment) if experiment else f"{storage_path.rstrip('/')}/{settings.name}"
    if experiment is not None and experiment.exists() and any(experiment.iterdir()):
        raise UsageError(f"--name {settings.name}: {experiment} already holds a search; "
                         f"choose another --name (nothing was overwritten)")
    data = load_mnist(settings.data)
    split = split_mnist(data, validation=settings.validation, subset=settings.subset,
                        seed=settings.seed)
    manifest = build_manifest(settings, data, split, where, command)
    if experiment is not None:
        experiment.mkdir(parents=True, exist_ok=True)
        finish_manifest(experiment / MANIFEST, manifest, finished_at=None)

    import optuna
    import ray
    from ray import tune

    from search.trial import run_trial
    from search.wiring import make_run_config, make_tune_config, trial_resources

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started_ray = not ray.is_initialized()
    if started_ray:
        _start_ray(settings)
    printer = TrialPrinter(settings.epochs, settings.space.searched,
                           write=(lambda line: None) if quiet else print)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, split=split, epochs=settings.epochs,
                                 seed=settings.seed, threads=settings.threads_per_trial,
                                 gpus=settings.gpus_per_trial),
            trial_resources(settings))
        tuner = tune.Tuner(trainable, tune_config=make_tune_config(settings, experiment),
                           run_config=make_run_config(settings, storage_path,
                                                      [printer, *(callbacks or [])]))
        grid = tuner.fit()
    finally:
        if started_ray:
            ray.shutdown()

    outcome = _summarise(grid, where)
    if experiment is not None:
        finish_manifest(experiment / MANIFEST, manifest, status="finished",
                        trials_run=outcome.trials, trials_errored=outcome.errored,
                        best_trial=outcome.best_trial, best_val_accuracy=outcome.best_score,
                        best_config=outcome.best_config,
                        best_checkpoint=outcome.best_checkpoint)
    return outcome


def _start_ray(settings: SearchSettings) -> None:
    import ray

    # Trial processes inherit the driver's environment: keep TensorFlow's start-up quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Ray warns whenever a trial checkpoints faster than every 5 s; short trials on small
    # subsets do, and one checkpoint per improvement is what we ask for.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's newer console output prints its own tables even at verbose=0; the classic engine
    # honours it, and our TrialPrinter says what matters.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    common: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if settings.address:
        ray.init(address=settings.address, **common)
    else:
        # Local runtime sized to this machine; the dashboard stays off (no port opened).
        ray.init(include_dashboard=False, **common)


def _summarise(grid: Any, where: str) -> SearchOutcome:
    errored = len(grid.errors)
    trials = len(grid)
    try:
        best = grid.get_best_result(metric=METRIC, mode=MODE, scope="all")
    except RuntimeError:
        return SearchOutcome(where, trials, errored, None, None, None, None)
    score = best.metrics_dataframe[METRIC].max() if best.metrics_dataframe is not None else None
    checkpoint = best.get_best_checkpoint(METRIC, MODE) if best.best_checkpoints else None
    number = int(Path(best.path).name.removeprefix("trial_"))
    return SearchOutcome(where, trials, errored, number,
                         float(score) if score is not None else None,
                         dict(best.config), checkpoint.path if checkpoint else None)

