"""Run a search: load the data once, start or join Ray, hand trials to Ray Tune, conclude.

``run_search`` starts a new experiment; ``resume_search`` continues one whose driver was
interrupted or killed, from the state Ray Tune saved in the experiment folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment import SearchStatus, read_manifest
from mnist_hpo.search.experiment.names import MANIFEST
from mnist_hpo.search.training.data import Split, load_mnist, recorded_split, split_mnist
from mnist_hpo.search.training.runtime import follow_recorded_kernels
from mnist_hpo.search.tune.callbacks import TrialPrinter, trial_number
from mnist_hpo.search.tune.manifest import (
    build_manifest,
    check_state_format,
    finish_manifest,
    settings_from_manifest,
)
from mnist_hpo.search.tune.outcome import SearchOutcome, conclude, from_grid
from mnist_hpo.search.tune.progress import Display, Progress, ProgressCallback
from mnist_hpo.search.tune.settings import SearchSettings

if TYPE_CHECKING:
    from mnist_hpo.search.tune.factories import Extension

log = logging.getLogger(__name__)


def experiment_location(settings: SearchSettings) -> tuple[str, Path | None]:
    """(Ray ``storage_path``, the local experiment folder or ``None`` for a URI)."""
    if "://" in settings.storage:
        return settings.storage, None
    storage = Path(settings.storage).expanduser().resolve()
    return str(storage), storage / settings.name


def run_search(settings: SearchSettings, command: list[str] | None = None,
               callbacks: list[Any] | None = None, quiet: bool = False) -> SearchOutcome:
    """Run the search ``settings`` describes and return its outcome.

    The experiment folder holds Ray Tune's state (``mnist-hpo resume`` reopens it), each
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
                         f"choose another --name, or continue it with `mnist-hpo resume "
                         f"{experiment}` (nothing was overwritten)")
    data = load_mnist(settings.data)
    split = split_mnist(data, validation=settings.validation, subset=settings.subset,
                        seed=settings.seed)
    manifest = build_manifest(settings, data, split, where, command)
    if experiment is not None:
        experiment.mkdir(parents=True, exist_ok=True)
        finish_manifest(experiment / MANIFEST, manifest, finished_at=None)

    progress = Progress.of(settings, experiment=experiment)
    with Display(progress, quiet=quiet) as display:
        reporters = [ProgressCallback(progress, trial_number),
                     TrialPrinter(settings.epochs, settings.space.searched, write=display.write)]
        return run_tuner(settings, lambda: new_tuner(settings, split, experiment, storage_path,
                                                     [*reporters, *(callbacks or [])]),
                         manifest, experiment, where)


def new_tuner(settings: SearchSettings, split: Split, experiment: Path | None,
              storage_path: str, callbacks: list[Any], extension: Extension | None = None
              ) -> Any:
    """A ``tune.Tuner`` for a new run of ``settings`` (``extension``: more trials in an
    existing experiment)."""
    from ray import tune

    from mnist_hpo.search.tune.factories import make_run_config, make_tune_config

    return tune.Tuner(trainable(settings, split),
                      tune_config=make_tune_config(settings, experiment, extension=extension),
                      run_config=make_run_config(settings, storage_path, callbacks,
                                                 experiment))


def resume_search(path: str | Path, data: str | None = None) -> SearchOutcome:
    """Continue an interrupted search: finished trials are kept, unfinished ones restart
    from their last checkpoint, and new trials are started up to the planned count.

    Raises:
        UsageError: not an experiment, already finished, no Ray state to restore, or a
            state another version of mnist-hpo wrote (``manifest.STATE_FORMAT``).
        DataError: the data is not the file the search started with (SHA-256 differs).
    """
    experiment = Path(path).expanduser().resolve()
    manifest = read_manifest(experiment)
    status = SearchStatus.of(manifest)
    if status is SearchStatus.FINISHED:
        raise UsageError(f"{experiment}: this search already finished all its trials; "
                         f"nothing to resume")
    if status.concluded:
        # Its unfinished trials were told to Optuna as stopped: they cannot go on.
        raise UsageError(f"{experiment}: this search ended ({status.value}); add trials "
                         f"with `mnist-hpo extend {experiment} --trials N`")
    # Before anything is unpickled or rebuilt: nothing here reads an earlier version's state.
    check_state_format(manifest, experiment)
    settings = settings_from_manifest(manifest, storage=str(experiment.parent))
    split = recorded_split(manifest["data"], data)
    # Its trials go on with the CPU kernels they started with (a user's value still wins).
    follow_recorded_kernels(manifest.get("tensorflow", {}))

    def restored_tuner() -> Any:
        from ray import tune

        if not tune.Tuner.can_restore(str(experiment)):
            raise UsageError(f"{experiment}: no Ray Tune state to resume from (tuner.pkl)")
        try:
            return tune.Tuner.restore(str(experiment), trainable=trainable(settings, split),
                                      resume_unfinished=True, resume_errored=False)
        except (ModuleNotFoundError, AttributeError) as err:
            # Ray's pickles name our modules and classes: a state that names one this
            # version does not have (its format number notwithstanding) cannot be unpickled.
            # Its records are plain files and still open.
            raise UsageError(f"{experiment}: its Ray Tune state was written by another version "
                             f"of mnist-hpo ({err}); it cannot be resumed here, but "
                             f"leaderboard, report and export read it") from None

    manifest["resumed_at"] = [*manifest.get("resumed_at", []), time.strftime("%Y-%m-%dT%H:%M:%S")]
    return run_tuner(settings, restored_tuner, manifest, experiment, str(experiment))


def trainable(settings: SearchSettings, split: Split) -> Any:
    """:class:`EpochTrainable` with its data and resources, as Ray Tune takes it."""
    from ray import tune

    from mnist_hpo.search.tune.factories import trial_resources
    from mnist_hpo.search.tune.trainable import EpochTrainable

    # The finalists are picked unlike each other by their first rung's predictions: asked
    # for only when there are finalists to pick.
    signature = {"signature_epoch": settings.grace_period} if settings.plans_end else {}
    # tune.with_parameters puts the split in Ray's object store once; every trial on every
    # node reads the same shared copy.
    return tune.with_resources(
        tune.with_parameters(EpochTrainable, split=split, epochs=settings.epochs,
                             seed=settings.seed, threads=settings.threads_per_trial,
                             gpus=settings.gpus_per_trial, **signature),
        trial_resources(settings))


class _NoUnreportedTrialWarning(logging.Filter):
    """Drops Ray's warning about trials without a result file (see ``run_tuner``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics")


def run_tuner(settings: SearchSettings, make_tuner: Callable[[], Any],
              manifest: dict[str, Any], experiment: Path | None, where: str) -> SearchOutcome:
    """Start Ray if needed, fit the tuner, conclude from the folder, update the manifest."""
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started_ray = not ray.is_initialized()
    if started_ray:
        start_ray(settings)
    # A trial started just before a budget ran out has no result file; Ray warns that it
    # "failed to fetch metrics". The records below count that trial as stopped, so the
    # warning only alarms (a failed trial is still reported, from its own error).
    analysis_log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    unreported = _NoUnreportedTrialWarning()
    analysis_log.addFilter(unreported)
    try:
        with pending_trials(settings):
            grid = make_tuner().fit()
    finally:
        analysis_log.removeFilter(unreported)
        if started_ray:
            ray.shutdown()
    if experiment is None:
        return from_grid(grid, where, settings)
    return conclude(experiment, settings, manifest)


@contextlib.contextmanager
def pending_trials(settings: SearchSettings) -> Iterator[None]:
    """Let Ray keep as many trials waiting for a worker as the policy may admit (one per
    free worker and one more: ``Policy.admit``) while the tuner fits. With a searcher of its own Ray
    keeps one (``TUNE_MAX_PENDING_TRIALS_PG``, "auto"): a search filled its workers one
    trial start at a time, and trials shorter than a worker's start ran one after another
    on one worker (benchmarks/ray_bookkeeping.py: 2,000 one-second trials on 16 CPUs took
    2,000 s). A value the user set is kept."""
    from mnist_hpo.search.tune.factories import workers

    name, count = "TUNE_MAX_PENDING_TRIALS_PG", workers(settings)
    if count is None or name in os.environ:
        yield
        return
    os.environ[name] = str(count + 1)  # read when the tuner's controller is built
    try:
        yield
    finally:
        del os.environ[name]


def start_ray(settings: SearchSettings) -> None:
    """Start Ray for ``settings`` (join its cluster, or a local runtime), with the worker
    environment every trial needs. ``run_search`` calls it when Ray is not running; a
    program running several searches calls it once and shuts Ray down itself."""
    import ray

    # Ray warns whenever a trial checkpoints faster than every 5 s; short trials on small
    # subsets do, and a checkpoint per epoch is what we ask for.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Ray's newer console output prints its own tables even at verbose=0; the classic engine
    # honours it, and our TrialPrinter says what matters.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    from mnist_hpo.search.training.runtime import VERBOSE_ENV, tensorflow_environment, verbose

    # Trials start TensorFlow as this command does (the same CPU kernels as the export that
    # checks their records; quietly, unless --verbose, which also brings the workers' own
    # output and Ray's info lines to the console). A cluster's workers get it from here too.
    loud = verbose()
    worker_env = tensorflow_environment() | ({VERBOSE_ENV: "1"} if loud else {})
    common: dict[str, Any] = {"logging_level": logging.INFO if loud else logging.WARNING,
                              "log_to_driver": loud, "runtime_env": {"env_vars": worker_env}}
    if settings.address:
        ray.init(address=settings.address, **common)
    else:
        # Ray (2.59 on) turns token authentication on for a new local runtime when
        # RAY_AUTH_MODE is unset and warns, at every start, that it did: nothing to act on.
        # Setting RAY_AUTH_MODE=token here is too late to silence it (Ray reads the mode
        # once, when imported: the runtime would start with tokens and this driver without,
        # and fail to connect), so the notice is dropped; Ray's warning that authentication
        # is *off* (a user's RAY_AUTH_MODE=disabled) still shows.
        auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")

        def enabled_notice(record: logging.LogRecord) -> bool:
            return loud or not record.getMessage().startswith(
                "Token authentication is enabled for this Ray cluster")

        auth_log.addFilter(enabled_notice)
        try:
            # Local runtime sized to this machine; the dashboard stays off (no port opened).
            ray.init(include_dashboard=False, **common)
        finally:
            auth_log.removeFilter(enabled_notice)
