"""mnist-hpo's own overhead on top of Ray Tune, side by side with stock Ray, in one run.

Ray Tune's scalability benchmarks (docs: "Scalability and Overhead Benchmarks for Ray
Tune"; release/tune_tests/scalability_tests/workloads/test_bookkeeping_overhead.py and
test_result_throughput_*.py) run trials that only sleep and report, so whatever the run
takes beyond the sleeping is Tune's bookkeeping. Ray publishes 10,000 one-second trials on
16 CPUs in 715 s against 625 s. Here the same workloads, scaled to a 2-core machine
(``ray.init(num_cpus=N)``: Ray schedules N one-CPU trials at once; they only sleep):

  bookkeeping   2,000 trials of 1 s, one result each, 16 logical CPUs (minimum 125 s)
  throughput    64 concurrent trials on 64 logical CPUs, each reporting 5 results a second
                for 20 s (100 results each, minimum 20 s; the start of 64 trial processes
                on 2 cores comes on top, ``first result s`` says how long it took)

Each workload runs these stacks one after another in one process, on one Ray runtime,
with the same sleeping trainable (a ``tune.Trainable`` that reports what mnist-hpo's
``EpochTrainable`` reports: the epoch's metrics, ``epoch``, ``node_id`` and the model's
costs, and ``slept_s``, which tells its results from another trainable's; val_accuracy a
seeded random curve per configuration; TensorFlow never imported):

  ray-fifo             Ray stock: BasicVariantGenerator (seeded random draws; the space's
                       keys at one drawn configuration plus a uniform ``score``, so rows
                       are as wide as mnist-hpo's), FIFO, ``reuse_actors=True`` as in
                       Ray's release test, Ray's default loggers, no checkpoints
  ray-optuna-asha      Ray stock: ``OptunaSearch`` over the space (TPE, seeded, study in
                       memory) + ``ASHAScheduler`` (grace 1, η = 3), ``reuse_actors=True``
  mnist-hpo            the product's ``run_search`` with ``--scheduler fifo``, only the
                       trainable class replaced: MNIST loaded and split, ``search.json``,
                       its searcher (Optuna journal, warm start, prior), its scheduler (the
                       FIFO policy), stoppers and callbacks, a checkpoint per result, the
                       per-trial lines and the status line (on a pseudo-terminal, drawn as
                       on a user's), then the records (``conclude``)
  mnist-hpo-promotion  the same with the product's default scheduler (promotion-type
                       ASHA; trials pause at rungs, so the work differs)

Per case: wall time of ``Tuner.fit()`` and of the whole stack (mnist-hpo's records step
included), the theoretical minimum (``max(results × s / CPUs, longest trial)`` from the
results actually produced: for FIFO, trials × s per trial / CPUs), the driver process's
CPU seconds per result (``time.process_time`` around ``fit``: Ray Tune's controller, the
searcher, the scheduler and the callbacks all run in the driver), when the first result
came and when every CPU first had a trial, results, trials ended, and whether TensorFlow
was imported. Order: after Ray starts, a warm-up run (stock,
unrecorded) starts and ends one trial process per CPU, and each workload starts with
another stack (the list rotated by the workload's index), so no stack always goes first;
each case waits for the last one's CPUs to come back. Ray starts again only when a
workload needs another number of CPUs.

Resumable: each finished (workload, stack) case is written to ``OUT/ray_bookkeeping.json``
at once, and a rerun at the same scale and space skips it. ``--profile`` runs the cases
under cProfile instead (figures not saved) and prints the driver's top functions.

    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --out docs/performance
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --workloads throughput
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --quick   # ~40 s
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --workloads throughput \\
        --stacks mnist-hpo --trials 16 --results 50 --cpus 16 --profile   # driver's time
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import fcntl
import gc
import json
import logging
import math
import os
import pstats
import random
import struct
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import code_version, machine
from benchmarks.output import out_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workload:
    """Trials that sleep ``seconds`` per result and report ``results`` times, on ``cpus``
    logical CPUs (one per trial)."""

    name: str
    trials: int
    results: int
    seconds: float
    cpus: int

    def minimum_s(self, produced: int | None = None, longest: int | None = None) -> float:
        """Wall time with no overhead at all: every CPU sleeping from start to end. With
        the results a run ``produced`` and its ``longest`` trial (in results), the bound
        for that run (ASHA stops trials, so the work differs from the plan)."""
        if produced is None or longest is None:
            return math.ceil(self.trials / self.cpus) * self.results * self.seconds
        return max(produced * self.seconds / self.cpus, longest * self.seconds)


WORKLOADS = ("bookkeeping", "throughput")
FULL = {"bookkeeping": Workload("bookkeeping", trials=2000, results=1, seconds=1.0, cpus=16),
        "throughput": Workload("throughput", trials=64, results=100, seconds=0.2, cpus=64)}
QUICK = {"bookkeeping": Workload("bookkeeping", trials=12, results=1, seconds=0.1, cpus=4),
         "throughput": Workload("throughput", trials=4, results=10, seconds=0.1, cpus=4)}
STACKS = ("ray-fifo", "ray-optuna-asha", "mnist-hpo", "mnist-hpo-promotion")
RAY_STOCK = "ray-fifo"  # what the ratio column divides by
#: The extra row, left out of --quick (each case costs the CI run ~5 s of Tune's start and end).
EXTRA = "mnist-hpo-promotion"
#: Stacks that run every trial to its last result: their results are trials × results.
FIFO_STACKS = ("ray-fifo", "mnist-hpo")
SEED = 0
IMAGES = 55_000  # what ``images_per_second`` pretends an epoch saw
#: The one key the sleeping trainable adds to EpochTrainable's: a case whose every result
#: has it ran no other trainable.
SLEPT = "slept_s"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA); mnist-hpo's driver "
                   "loads it as a search does")
    p.add_argument("--space", default="default", help="preset or YAML space (default: default)")
    p.add_argument("--quick", action="store_true",
                   help="tiny scale (CI): 12 trials of 0.1 s on 4 CPUs; 4 trials × 10 "
                        "results at 10/s; written to a fresh temporary folder unless --out")
    p.add_argument("--out", help="folder for ray_bookkeeping.json (default: docs/performance)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {', '.join(WORKLOADS)}")
    p.add_argument("--stacks", help=f"comma-separated subset of {', '.join(STACKS)} "
                   f"(default: all; with --quick, all but {EXTRA})")
    for key, kind in (("trials", int), ("results", int), ("seconds", float), ("cpus", int)):
        p.add_argument(f"--{key}", type=kind, help=f"override the workloads' {key} (a case "
                       f"saved at another scale is not reused)")
    p.add_argument("--profile", action="store_true",
                   help="run each case under cProfile, print the driver's top functions by "
                        "cumulative time, save .prof files; the (slowed) figures are not saved")
    args = p.parse_args(argv)
    if args.stacks is None:
        args.stacks = ",".join(s for s in STACKS if not (args.quick and s == EXTRA))
    for name, known in (("workloads", WORKLOADS), ("stacks", STACKS)):
        chosen = [s for s in getattr(args, name).split(",") if s]
        unknown = sorted(set(chosen) - set(known))
        if unknown or not chosen:
            p.error(f"--{name}: unknown or empty {', '.join(unknown)}; choose from "
                    f"{', '.join(known)}")
        setattr(args, name, [s for s in known if s in chosen])
    from mnist_hpo.search.training.data import KERAS_SOURCE, resolve_source

    args.data = resolve_source(args.data)
    if args.data == KERAS_SOURCE and any(s.startswith("mnist-hpo") for s in args.stacks):
        # Keras' download would import TensorFlow into the driver.
        p.error("--data: the mnist-hpo stacks load MNIST as a search does; give a mnist.npz "
                "or set $MNIST_HPO_DATA")
    args.out = str(out_dir(args.out, quick=args.quick, default="docs/performance",
                           name="ray_bookkeeping", files=["ray_bookkeeping.json"]))
    return args


def workloads(args: argparse.Namespace) -> dict[str, Workload]:
    """Every workload at this invocation's scale (``--quick``, the overrides on the
    selected ones): what a saved case must match to be reused."""
    scale = QUICK if args.quick else FULL
    overrides = {k: getattr(args, k) for k in ("trials", "results", "seconds", "cpus")
                 if getattr(args, k) is not None}
    return {name: replace(w, **overrides) if name in args.workloads else w
            for name, w in scale.items()}


# -- the trainable ------------------------------------------------------------------------

def sleeping_trainable(seconds: float) -> type:
    """A ``tune.Trainable`` whose every step sleeps ``seconds`` and reports what
    ``EpochTrainable`` reports, with its ``setup`` keywords (``split`` ignored); it
    checkpoints ``state.json`` as it does (not the model's bytes: trial-side I/O, not the
    driver's bookkeeping). Built here, with Ray imported late, so that Ray reads the
    environment ``main`` sets."""
    from ray import tune

    from mnist_hpo.search.experiment.names import CHECKPOINT_STATE, COST_KEYS, EPOCH_KEYS

    class SleepingTrainable(tune.Trainable):
        # EpochTrainable's keywords (tune.with_parameters hands them to setup); any it
        # gains later are taken and ignored.
        def setup(self, config: dict[str, Any], *, epochs: int,  # type: ignore[override]
                  seed: int, split: Any = None, threads: int = 1, gpus: float = 0.0,
                  **more: Any) -> None:
            import ray

            self._epochs, self._seed = epochs, seed
            self._node_id = ray.get_runtime_context().get_node_id()
            self._start()

        def _start(self) -> None:
            self._done = 0
            drawn = json.dumps(self.config, sort_keys=True, default=str)
            rng = random.Random(f"{self._seed}|{drawn}")
            self._final, self._speed = rng.uniform(0.90, 0.995), rng.uniform(0.3, 2.0)
            params = rng.randint(20_000, 2_000_000)
            self._cost = dict(zip(COST_KEYS, (params, 12 * params + 20_000,
                                              params / 2e6, params / 2e8), strict=True))

        def step(self) -> dict[str, Any]:
            start = time.perf_counter()
            time.sleep(seconds)
            took = time.perf_counter() - start
            self._done += 1
            value = self._final - (self._final - 0.1) * math.exp(-self._speed * self._done)
            value += random.Random(f"{self._seed}|{self._final}|{self._done}").gauss(0, 0.002)
            metrics = (1 - value + 0.01, value + 0.005, 1 - value, value, took, IMAGES / took)
            result: dict[str, Any] = dict(zip(EPOCH_KEYS, metrics, strict=True))
            result |= {"epoch": self._done, "node_id": self._node_id, **self._cost,
                       SLEPT: took}
            if self._done >= self._epochs:
                result["done"] = True
            return result

        def save_checkpoint(self, checkpoint_dir: str) -> None:
            state = {"epoch": self._done, "val_accuracy": None}
            (Path(checkpoint_dir) / CHECKPOINT_STATE).write_text(json.dumps(state))

        def load_checkpoint(self, checkpoint: dict[str, Any] | str | None) -> None:
            if isinstance(checkpoint, str):
                state = json.loads((Path(checkpoint) / CHECKPOINT_STATE).read_text())
                self._done = int(state["epoch"])

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            self._start()  # Ray has set self.config
            return True

    return SleepingTrainable


# -- measuring ----------------------------------------------------------------------------

def meter_callback(full: int) -> Any:
    """A ``tune.Callback`` counting results (the furthest ``training_iteration`` of each
    trial: Ray hands a trial's last result over again when it ends), ended and errored
    trials, when the first result came and when ``full`` trials first ran at once."""
    from ray import tune

    class Meter(tune.Callback):
        def __init__(self) -> None:
            self.iterations: dict[str, int] = {}
            self.completed: set[str] = set()
            self.errored: set[str] = set()
            self.first_result: float | None = None
            self.full: float | None = None
            self.most = 0  # trials running at once, at most (counted until ``full``)
            self.foreign = 0  # results of another trainable than the sleeping one

        def on_trial_start(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            # Counted only until it happens (it costs O(trials)); Ray marks ``trial`` as
            # running right after this call.
            if self.full is not None:
                return
            running = 1 + sum(t.status == "RUNNING" for t in trials if t is not trial)
            self.most = max(self.most, running)
            if running >= full:
                self.full = time.perf_counter()

        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            if self.first_result is None:
                self.first_result = time.perf_counter()
            self.foreign += SLEPT not in result
            done = int(result.get("training_iteration") or 0)
            self.iterations[trial.trial_id] = max(self.iterations.get(trial.trial_id, 0), done)

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any,
                              **info: Any) -> None:
            self.completed.add(trial.trial_id)

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any,
                           **info: Any) -> None:
            self.errored.add(trial.trial_id)

    return Meter()


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


@dataclass
class Terminal:
    """A pseudo-terminal that stands for the user's: output written to :attr:`stream`
    (a tty, so the product draws its status line) is read and counted, then dropped."""

    stream: TextIO
    master: int
    bytes: int = 0
    reader: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the terminal's last writer closed it
                return
            if not chunk:
                return
            self.bytes += len(chunk)


@contextlib.contextmanager
def pseudo_terminal() -> Iterator[Terminal]:
    """Standard output on a pseudo-terminal (50 × 160) for the length of the block."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    stream = open(slave, "w", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed below)
    terminal = Terminal(stream, master)
    try:
        with contextlib.redirect_stdout(stream):
            yield terminal
    finally:
        stream.close()
        terminal.reader.join(timeout=10)
        os.close(master)


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
        epochs=workload.results, scheduler="fifo" if stack == "mnist-hpo" else "",
        cpus_per_trial=1.0, seed=SEED, data=data)
    new_tuner = driver.new_tuner

    def timed_tuner(*args: Any, **kwargs: Any) -> TimedFit:
        return TimedFit(new_tuner(*args, **kwargs), clock)

    # driver.trainable imports EpochTrainable when called: it wraps this class instead,
    # with the product's own with_parameters (the split in Ray's object store) and
    # resources.
    with mock.patch("mnist_hpo.search.tune.trainable.EpochTrainable",
                    sleeping_trainable(workload.seconds)), \
            mock.patch.object(driver, "new_tuner", timed_tuner):
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
    with pseudo_terminal() as terminal:
        if stack.startswith("ray-"):
            extra = run_ray_stock(stack, workload, space, storage, name, [meter], clock)
        else:
            extra = run_mnist_hpo(stack, workload, space, storage, name, [meter], clock,
                                  args.data)
    stack_wall, stack_cpu = time.perf_counter() - wall, time.process_time() - cpu

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


def start_ray(cpus: int) -> None:
    """A local runtime pretending ``cpus`` CPUs, quiet (as mnist-hpo starts one)."""
    import ray

    auth_log = logging.getLogger("ray._private.authentication.authentication_token_setup")

    def enabled_notice(record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")

    auth_log.addFilter(enabled_notice)
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
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


# -- the file -----------------------------------------------------------------------------

def load_done(path: Path, specs: dict[str, Workload], space: dict[str, Any]
              ) -> list[dict[str, Any]]:
    """Cases saved by an earlier invocation at the same scale: the same workload spec and
    the same space definition (cases at another scale are dropped from the file)."""
    if not path.exists():
        return []
    saved = json.loads(path.read_text())
    kept = [case for case in saved.get("cases", [])
            if case["workload"] in specs and case["spec"] == asdict(specs[case["workload"]])
            and saved.get("space") == space]
    if len(kept) < len(saved.get("cases", [])):
        print(f"{path}: {len(saved['cases']) - len(kept)} case(s) at another scale or for "
              f"another space, not kept", flush=True)
    return kept


def save(path: Path, cases: list[dict[str, Any]], args: argparse.Namespace,
         space: dict[str, Any], info: dict[str, Any]) -> None:
    """Every case so far, written atomically (a kill leaves the last complete file)."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"args": vars(args), "space": space, "machine": info,
                               "cases": cases}, indent=1, default=str) + "\n")
    tmp.replace(path)


def table(cases: list[dict[str, Any]]) -> str:
    """The markdown table: each workload's cases in stack order, the ratio to Ray stock's
    whole-stack wall time in the same file."""
    rows = ["| stack | workload | fit s | whole stack s | minimum s | fit / min "
            "| whole × ray-fifo | first result s | most trials at once (s to all CPUs) "
            "| driver CPU ms / result | results | trials ended |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for workload in WORKLOADS:
        mine = {c["stack"]: c for c in cases if c["workload"] == workload}
        base = mine.get(RAY_STOCK)
        for stack in STACKS:
            c = mine.get(stack)
            if c is None:
                continue
            ratio = f"{c['stack_s'] / base['stack_s']:.2f}" if base else "-"
            cpu = c["driver_cpu_ms_per_result"]
            first, busy, most = (c.get(k) for k in ("first_result_s", "all_cpus_busy_s",
                                                    "most_running"))
            at_once = "-" if most is None else str(most) if busy is None else \
                f"{most} ({busy:.1f})"
            rows.append(
                f"| {stack} | {workload} | {c['fit_s']:.1f} | {c['stack_s']:.1f} "
                f"| {c['minimum_s']:.1f} | {c['fit_over_minimum']:.2f} | {ratio} "
                f"| {'-' if first is None else f'{first:.1f}'} | {at_once} "
                f"| {'-' if cpu is None else f'{cpu:.2f}'} | {c['results']:,} "
                f"| {c['trials_ended']:,} |")
    return "\n".join(rows)


def print_profile(profiler: cProfile.Profile, where: Path, top: int = 15) -> None:
    """The driver's top functions by cumulative time, and the profile saved for snakeviz."""
    profiler.dump_stats(where)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats("cumulative").print_stats(top)
    print(f"wrote {where}", flush=True)


def rotated(stacks: list[str], by: int) -> list[str]:
    """``stacks`` starting at index ``by`` (mod its length), wrapping round."""
    k = by % len(stacks)
    return stacks[k:] + stacks[:k]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    prepare_environment()
    import optuna
    import ray

    from mnist_hpo.spaces import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_space(args.space)
    space_definition = space.to_yaml_dict()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "ray_bookkeeping.json"
    specs = workloads(args)
    cases = load_done(path, specs, space_definition)
    done = {(c["workload"], c["stack"]) for c in cases}
    if done and not args.profile:
        print(f"{len(done)} case(s) already done, skipped", flush=True)
    info, commit = machine(), code_version()
    running: int | None = None  # the CPUs of the Ray runtime that is up
    with tempfile.TemporaryDirectory(prefix="ray-bookkeeping-") as storage:
        try:
            for index, name in enumerate(WORKLOADS):
                workload = specs[name]
                todo = [s for s in rotated(args.stacks, index) if name in args.workloads
                        and (args.profile or (name, s) not in done)]
                if not todo:
                    continue
                print(f"{name}: {workload.trials:,} trials × {workload.results} results × "
                      f"{workload.seconds} s on {workload.cpus} CPUs (minimum "
                      f"{workload.minimum_s():.0f} s); order {', '.join(todo)}", flush=True)
                if running != workload.cpus:
                    if running is not None:
                        ray.shutdown()
                    start_ray(workload.cpus)
                    running = workload.cpus
                    warm_up(workload, space, storage)
                for position, stack in enumerate(todo):
                    settle(workload.cpus)
                    profiler = cProfile.Profile() if args.profile else None
                    case = run_case(workload, stack, args, space, storage, position, profiler)
                    print(f"  {stack:<20} fit {case['fit_s']:7.1f} s (minimum "
                          f"{case['minimum_s']:.1f} s), whole {case['stack_s']:7.1f} s, "
                          f"driver CPU {case['driver_cpu_fit_s']:.1f} s, "
                          f"{case['results']:,} results", flush=True)
                    if profiler is not None:
                        print_profile(profiler, out / f"ray_bookkeeping-{name}-{stack}.prof")
                        continue
                    case |= {"commit": commit, "finished": datetime.datetime.now(
                        datetime.UTC).isoformat(timespec="seconds")}
                    cases = [c for c in cases if (c["workload"], c["stack"]) != (name, stack)]
                    cases.append(case)
                    save(path, cases, args, space_definition, info)  # resumable from here
        finally:
            if running is not None:
                ray.shutdown()
    if args.profile:
        return
    print()
    print(table(cases))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
