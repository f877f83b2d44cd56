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
  mnist-hpo-no-checkpoints
                       mnist-hpo without its checkpoint per result (a diagnosis, not a
                       way to run it: the rest of its cost apart from the checkpoints)
  mnist-hpo-random     mnist-hpo with ``--sampler random`` (a diagnosis: its bookkeeping
                       apart from TPE's ask, which stock FIFO's random draws do not pay)

Per case: wall time of ``Tuner.fit()`` and of the whole stack (mnist-hpo's records step
included), the theoretical minimum (``max(results × s / CPUs, longest trial)`` from the
results actually produced: for FIFO, trials × s per trial / CPUs), the driver process's
CPU seconds per result (``time.process_time`` around ``fit``: Ray Tune's controller, the
searcher, the scheduler and the callbacks all run in the driver), when the first result
came and when every CPU first had a trial, results, trials ended, and whether TensorFlow
was imported. Order: after Ray starts, a warm-up run (stock,
unrecorded) starts and ends one trial process per CPU, and each workload (and with
``--rounds N``, each round of it) starts with another stack (the list rotated), so no
stack always goes first; each case waits for the last one's CPUs to come back. Ray starts
again only when a workload needs another number of CPUs. With rounds, each stack's ratio
is to stock Ray's run in the same round, and the median of the rounds is printed.

Resumable: each finished (workload, stack, round) case is written to ``OUT/ray_bookkeeping.json``
at once, and a rerun at the same scale and space skips it. ``--profile`` runs the cases
under cProfile instead (figures not saved) and prints the driver's top functions.

    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --out docs/performance
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --workloads throughput
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --quick   # ~35 s
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --workloads bookkeeping \\
        --stacks ray-fifo,ray-optuna-asha,mnist-hpo --trials 500 --cpus 2 --rounds 2 \\
        --out docs/performance/bookkeeping_2cpus   # on the CPUs this machine has
    python benchmarks/ray_bookkeeping.py --data ../shared/data/mnist.npz --workloads throughput \\
        --stacks mnist-hpo --trials 16 --results 50 --cpus 16 --profile   # driver's time
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bookkeeping_results import (
    case_round,
    load_done,
    print_profile,
    rotated,
    round_ratios,
    save,
    table,
)
from benchmarks.bookkeeping_stacks import prepare_environment, run_case, settle, start_ray, warm_up
from benchmarks.bookkeeping_workloads import (
    EXTRA,
    FIFO_STACKS,
    QUICK,
    STACKS,
    WORKLOADS,
    Workload,
    workloads,
)
from benchmarks.machine import code_version, machine
from benchmarks.output import out_dir

__all__ = ["EXTRA", "FIFO_STACKS", "QUICK", "STACKS", "WORKLOADS", "load_done", "main",
           "parse_args", "table"]

log = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA); mnist-hpo's driver "
                   "loads it as a search does")
    p.add_argument("--space", default="default", help="preset or YAML space (default: default)")
    p.add_argument("--quick", action="store_true",
                   help="tiny scale (CI): 12 trials of 0.1 s on 2 CPUs; 2 trials × 10 "
                        "results at 10/s; written to a fresh temporary folder unless --out")
    p.add_argument("--out", help="folder for ray_bookkeeping.json (default: docs/performance)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated subset of {', '.join(WORKLOADS)}")
    p.add_argument("--stacks", help=f"comma-separated subset of {', '.join(STACKS)} "
                   f"(default: all; with --quick, all but {', '.join(EXTRA)})")
    for key, kind in (("trials", int), ("results", int), ("seconds", float), ("cpus", int)):
        p.add_argument(f"--{key}", type=kind, help=f"override the workloads' {key} (a case "
                       f"saved at another scale is not reused)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run the stacks this many times on each workload, alternating (each "
                        "round starts with another stack); the table gives each round's "
                        "ratio to stock Ray in that round and their median (default: 1)")
    p.add_argument("--profile", action="store_true",
                   help="run each case under cProfile, print the driver's top functions by "
                        "cumulative time, save .prof files; the (slowed) figures are not saved")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error(f"--rounds: {args.rounds} is not a number of rounds; give 1 or more")
    if args.stacks is None:
        args.stacks = ",".join(s for s in STACKS if not (args.quick and s in EXTRA))
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


def planned(args: argparse.Namespace, specs: dict[str, Workload],
            done: set[tuple[str, str, int]]) -> Iterator[tuple[str, int, list[str]]]:
    """``(workload, round, stacks to run)`` in the order they run: each round starts with
    another stack (the list rotated), so no stack always goes first; what is saved is
    skipped (unless profiling, which saves nothing)."""
    for index, name in enumerate(WORKLOADS):
        if name not in args.workloads:
            continue
        for round_ in range(args.rounds):
            todo = [s for s in rotated(args.stacks, index + round_)
                    if args.profile or (name, s, round_) not in done]
            if todo:
                yield name, round_, todo


def run_round(workload: Workload, round_: int, todo: list[str], args: argparse.Namespace,
              space: Any, storage: str, out: Path, commit: str | None
              ) -> Iterator[dict[str, Any]]:
    """Each stack of ``todo`` on ``workload``, one after another, measured: yields each
    case as it ends (under ``--profile``, prints the profile and yields nothing)."""
    for position, stack in enumerate(todo):
        settle(workload.cpus)
        profiler = cProfile.Profile() if args.profile else None
        case = run_case(workload, stack, args, space, storage, position, profiler)
        print(f"  {stack:<20} fit {case['fit_s']:7.1f} s (minimum "
              f"{case['minimum_s']:.1f} s), whole {case['stack_s']:7.1f} s, "
              f"driver CPU {case['driver_cpu_fit_s']:.1f} s, "
              f"{case['results']:,} results", flush=True)
        if profiler is not None:
            print_profile(profiler, out / f"ray_bookkeeping-{workload.name}-{stack}.prof")
            continue
        yield case | {"round": round_, "commit": commit,
                      "finished": datetime.datetime.now(datetime.UTC).isoformat(
                          timespec="seconds")}


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
    done = {(c["workload"], c["stack"], case_round(c)) for c in cases}
    if done and not args.profile:
        print(f"{len(done)} case(s) already done, skipped", flush=True)
    info, commit = machine(), code_version()
    running: int | None = None  # the CPUs of the Ray runtime that is up
    with tempfile.TemporaryDirectory(prefix="ray-bookkeeping-") as storage:
        try:
            for name, round_, todo in planned(args, specs, done):
                workload = specs[name]
                print(f"{name}{f' round {round_ + 1}' if args.rounds > 1 else ''}: "
                      f"{workload.trials:,} trials × {workload.results} results × "
                      f"{workload.seconds} s on {workload.cpus} CPUs (minimum "
                      f"{workload.minimum_s():.0f} s); order {', '.join(todo)}", flush=True)
                if running != workload.cpus:  # Ray starts again only for another CPU count
                    if running is not None:
                        ray.shutdown()
                    start_ray(workload.cpus)
                    running = workload.cpus
                    warm_up(workload, space, storage)
                for case in run_round(workload, round_, todo, args, space, storage, out,
                                      commit):
                    key = (name, case["stack"], round_)
                    cases = [c for c in cases
                             if (c["workload"], c["stack"], case_round(c)) != key]
                    cases.append(case)
                    save(path, cases, args, space_definition, info)  # resumable from here
        finally:
            if running is not None:
                ray.shutdown()
    if args.profile:
        return
    print()
    print(table(cases))
    for line in round_ratios(cases):
        print(line)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
