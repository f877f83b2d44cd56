"""The stacks of ``benchmarks/ray_bookkeeping.py``, each run on a workload and measured
(wall and driver CPU seconds of ``Tuner.fit``), and the Ray runtime they share."""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.bookkeeping_terminal import pseudo_terminal
from benchmarks.bookkeeping_trainable import meter_callback, sleeping_trainable
from benchmarks.bookkeeping_workloads import SEED, Workload


@dataclass
class Clock:
    """Wall and driver CPU seconds of what runs inside :meth:`measure` (and a profile of
    it, if given one)."""

    profiler: cProfile.Profile | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    started: float | None = None

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        self.started = wall
        if self.profiler is not None:
            self.profiler.enable()
        try:
            yield
        finally:
            if self.profiler is not None:
                self.profiler.disable()
            self.wall_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu


class TimedFit:
    """A ``tune.Tuner`` whose ``fit`` is measured by ``clock``."""

    def __init__(self, tuner: Any, clock: Clock) -> None:
        self.tuner, self.clock = tuner, clock

    def fit(self) -> Any:
        with self.clock.measure():
            return self.tuner.fit()


# -- the stacks ---------------------------------------------------------------------------

def fixed_config(space: Any, seed: int) -> dict[str, Any]:
    """One configuration of ``space`` (a seeded random draw): the stock FIFO stack's
    trials carry its keys, so their rows are as wide as the other stacks'."""
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    config: dict[str, Any] = space.suggest(study.ask())
    return config


def run_ray_stock(stack: str, workload: Workload, space: Any, storage: str, name: str,
                  callbacks: list[Any], clock: Clock) -> dict[str, Any]:
    """Ray Tune as its users run it: ``ray-fifo`` or ``ray-optuna-asha``."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator
    from ray.tune.search.optuna import OptunaSearch

    trainable = tune.with_resources(
        tune.with_parameters(sleeping_trainable(workload.seconds), epochs=workload.results,
                             seed=SEED), {"cpu": 1})
    param_space: dict[str, Any] | None = None
    if stack == "ray-fifo":
        # As Ray's release test draws its configurations: a uniform score.
        param_space = fixed_config(space, SEED) | {"score": tune.uniform(0.0, 1.0)}
        tune_config = tune.TuneConfig(num_samples=workload.trials, reuse_actors=True,
                                      search_alg=BasicVariantGenerator(random_state=SEED))
    else:
        tune_config = tune.TuneConfig(
            metric="val_accuracy", mode="max", num_samples=workload.trials, reuse_actors=True,
            search_alg=OptunaSearch(space=space.suggest, metric="val_accuracy", mode="max",
                                    sampler=optuna.samplers.TPESampler(seed=SEED)),
            scheduler=ASHAScheduler(max_t=workload.results, grace_period=1,
                                    reduction_factor=3))
    tuner = tune.Tuner(trainable, param_space=param_space, tune_config=tune_config,
                       run_config=tune.RunConfig(name=name, storage_path=storage,
                                                 callbacks=callbacks, verbose=0))
    grid = TimedFit(tuner, clock).fit()
    return {"errors": len(grid.errors)}


def run_mnist_hpo(stack: str, workload: Workload, space: Any, storage: str, name: str,
                  callbacks: list[Any], clock: Clock, data: str) -> dict[str, Any]:
    """``run_search`` as ``mnist-hpo search`` calls it, its trainable class replaced and
    its tuner's ``fit`` measured: everything else is the product's."""
    from mnist_hpo.search.tune import driver
    from mnist_hpo.search.tune.settings import SearchSettings

    settings = SearchSettings(
        space=space, name=name, storage=storage, trials=workload.trials,
        epochs=workload.results, scheduler="" if stack == "mnist-hpo-promotion" else "fifo",
        cpus_per_trial=1.0, seed=SEED, data=data,
        sampler="random" if stack == "mnist-hpo-random" else "tpe")
    new_tuner = driver.new_tuner

    def timed_tuner(*args: Any, **kwargs: Any) -> TimedFit:
        return TimedFit(new_tuner(*args, **kwargs), clock)

    from mnist_hpo.search.tune import factories

    product_run_config = factories.make_run_config

    def run_config(*args: Any, **kwargs: Any) -> Any:
        config = product_run_config(*args, **kwargs)
        if stack == "mnist-hpo-no-checkpoints":  # the product's, without its checkpoints
            from ray import tune

            config.checkpoint_config = tune.CheckpointConfig(checkpoint_frequency=0)
        return config

    # driver.trainable imports EpochTrainable when called: it wraps this class instead,
    # with the product's own with_parameters (the split in Ray's object store) and
    # resources.
    with mock.patch("mnist_hpo.search.tune.trainable.EpochTrainable",
                    sleeping_trainable(workload.seconds)), \
            mock.patch.object(driver, "new_tuner", timed_tuner), \
            mock.patch.object(factories, "make_run_config", run_config):
        outcome = driver.run_search(settings, command=["benchmarks/ray_bookkeeping.py"],
                                    callbacks=callbacks)
    return {"status": outcome.status.value, "errors": outcome.errored,
            "recorded_trials": outcome.trials, "scheduler": settings.scheduler}


def run_case(workload: Workload, stack: str, args: argparse.Namespace, space: Any,
             storage: str, position: int, profiler: cProfile.Profile | None = None
             ) -> dict[str, Any]:
    """One stack on one workload, measured."""
    meter = meter_callback(min(workload.cpus, workload.trials))
    clock = Clock(profiler)
    name = f"{workload.name}-{stack}-{time.time_ns()}"
    wall, cpu = time.perf_counter(), time.process_time()
    workers = worker_processes_started()
    with pseudo_terminal() as terminal:
        if stack.startswith("ray-"):
            extra = run_ray_stock(stack, workload, space, storage, name, [meter], clock)
        else:
            extra = run_mnist_hpo(stack, workload, space, storage, name, [meter], clock,
                                  args.data)
    stack_wall, stack_cpu = time.perf_counter() - wall, time.process_time() - cpu
    workers = worker_processes_started() - workers

    def since(moment: float | None) -> float | None:
        """Seconds from the start of ``fit`` to ``moment``."""
        return None if moment is None or clock.started is None else \
            round(moment - clock.started, 3)

    results = sum(meter.iterations.values())
    longest = max(meter.iterations.values(), default=0)
    minimum = workload.minimum_s(results, longest)
    return {
        "workload": workload.name, "stack": stack, "spec": asdict(workload),
        "position": position,
        "fit_s": round(clock.wall_s, 3), "stack_s": round(stack_wall, 3),
        "minimum_s": round(minimum, 3), "planned_minimum_s": workload.minimum_s(),
        "fit_over_minimum": round(clock.wall_s / minimum, 4) if minimum else None,
        "first_result_s": since(meter.first_result),
        # When every CPU first had a trial (None: never; Ray starts one trial at a time
        # for a searcher of its own, and ASHA ends trials while others start).
        "all_cpus_busy_s": since(meter.full), "most_running": meter.most,
        "driver_cpu_fit_s": round(clock.cpu_s, 3), "driver_cpu_stack_s": round(stack_cpu, 3),
        "driver_cpu_ms_per_result": round(1000 * clock.cpu_s / results, 3) if results else None,
        "results": results, "trials_reported": len(meter.iterations),
        "trials_ended": len(meter.completed | meter.errored),
        "trials_errored": len(meter.errored),
        "terminal_bytes": terminal.bytes,
        # Each a Python process start (about a CPU second here): on 2 cores pretending 16
        # CPUs, what the wall time follows most (docs/benchmarks.md).
        "worker_processes_started": workers,
        "tensorflow_imported": "tensorflow" in sys.modules,
        "other_trainable_results": meter.foreign,
        **extra,
    }


# -- Ray ----------------------------------------------------------------------------------

def prepare_environment() -> None:
    """What ``mnist-hpo search`` sets before Ray starts, for every stack alike: Ray's
    runtime on 127.0.0.1, the classic console engine (quiet at ``verbose=0``), no warning
    per checkpoint sync. Before Ray is imported: it reads some of these then."""
    from mnist_hpo.search.cli.search import loopback_if_local

    loopback_if_local(None)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")


#: The runtime's log folder (``RayContext.address_info["session_dir"]``/logs).
_session_logs: Path | None = None


def worker_processes_started() -> int:
    """Worker processes the runtime has started so far: Ray writes a
    ``python-core-worker-<id>_<pid>.log`` for each."""
    if _session_logs is None:
        return 0
    return sum(1 for _ in _session_logs.glob("python-core-worker-*.log"))


def start_ray(cpus: int) -> None:
    """A local runtime pretending ``cpus`` CPUs, quiet (as mnist-hpo starts one)."""
    import ray

    global _session_logs

    auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")

    def enabled_notice(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")

    auth_log.addFilter(enabled_notice)
    try:
        context = ray.init(num_cpus=cpus, include_dashboard=False,
                           logging_level=logging.WARNING, log_to_driver=False)
        # A local runtime's context (RayContext) says where its session lives.
        session = getattr(context, "address_info", {}).get("session_dir")
        _session_logs = Path(session) / "logs" if session else None

    finally:
        auth_log.removeFilter(enabled_notice)


def settle(cpus: int, timeout_s: float = 60.0) -> None:
    """Wait until every CPU is free again (the last case's trial processes are gone)."""
    import ray

    def free() -> float:
        return float(ray.available_resources().get("CPU", 0))  # type: ignore[no-untyped-call]

    gc.collect()
    end = time.monotonic() + timeout_s
    while free() < cpus and time.monotonic() < end:
        time.sleep(0.2)


def warm_up(workload: Workload, space: Any, storage: str) -> None:
    """Stock Ray once, unrecorded: one short trial per CPU, so the first measured stack
    finds the runtime, its worker pool and the driver's imports as the later ones do."""
    from mnist_hpo.search.tune import driver, factories  # noqa: F401 (imported once, here)

    brief = replace(workload, name="warm-up", trials=workload.cpus, results=1, seconds=0.05)
    with pseudo_terminal():
        run_ray_stock("ray-fifo", brief, space, storage, f"warm-up-{time.time_ns()}", [],
                      Clock())
