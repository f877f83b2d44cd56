"""Overview: the figures of the other benchmarks, gathered in one run and one table.

1. Training throughput, images/s: mnist-hpo's loop against a bare Keras ``model.fit`` of the
   same model, with and without augmentation (``train_throughput.py``, run as it is).
2. Orchestration overhead: a small search (``smoke`` space, FIFO, 1 epoch per trial, one
   worker with one CPU) against a plain Python loop in this process that loads the same data
   and calls ``mnist_hpo.search.training.train`` on the configurations the search ran.
3. Scaling: that search with 2 workers × 1 CPU, against 1 worker × 1 CPU and 1 worker × 2 CPUs.
4. Worker reuse: the one-worker search with reused worker processes against a fresh process
   per trial (``search_overhead.py`` measures this with all cores busy).

The two sides of each comparison alternate run by run (forward, then reversed order) so that
noise from a shared machine hits both alike; medians are reported. Raw numbers go to
``overview.json`` in ``--out`` (default: benchmarks/results); a ``--quick`` run writes to a
new temporary folder instead, and refuses (exit 2) an ``--out`` that holds a full run's
overview.json (``benchmarks/output.py``).

    python benchmarks/overview.py --data ../shared/data/mnist.npz --out docs/performance  # ~15 min
    python benchmarks/overview.py --data ../shared/data/mnist.npz --quick   # < 1 min (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine
from benchmarks.output import out_dir
from benchmarks.search_overhead import MemoryProbe
from mnist_hpo.search.experiment import SearchStatus
from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does."""

    images: int  # training images of every search and of the plain loop
    validation: int
    trials: int
    repeats: int  # runs of each search case (and of the loop), alternating
    tp_images: int  # train_throughput.py: images, epochs (the first is warm-up), runs
    tp_epochs: int
    tp_repeats: int
    tp_config: str  # the model train_throughput.py trains ("{}": the tutorial's network)
    warm_up: bool  # a discarded 1-trial search first, so the first case is not Ray's first


# Full: ~4 min of throughput, then 3 × (5 cases of 10 short trials) ≈ 10-15 min in all. At
# most 10 trials: Optuna's TPE samples its first 10 at random from the seed, so every search
# (whatever its concurrency) runs the same configurations.
FULL = Sizes(images=2000, validation=1000, trials=10, repeats=3, tp_images=5000, tp_epochs=3,
             tp_repeats=2, tp_config="{}", warm_up=True)
# Quick (CI): only checks that everything runs in under a minute; the ratios are noise at
# this size. Throughput trains a smoke-sized network (the seed network: 40 s, not 11 s).
QUICK = Sizes(images=500, validation=200, trials=2, repeats=1, tp_images=500, tp_epochs=2,
              tp_repeats=1, warm_up=False,
              tp_config='{"conv_blocks": 1, "convs_per_block": 1, "filters_1": 8, '
                        '"kernel_size_1": 3, "dense_units": 32}')

# Search cases: (workers at once, CPUs per trial, reuse worker processes).
CASES: dict[str, tuple[int, int, bool]] = {
    "1 worker": (1, 1, True),
    "2 workers": (2, 1, True),
    "1 worker x 2 cpus": (1, 2, True),
    "1 worker, fresh": (1, 1, False),
}
LOOP = "plain loop"


def throughput(data: str | None, sizes: Sizes) -> dict[str, Any]:
    """Run train_throughput.py itself, in its own process: TensorFlow fixes its thread pools
    once per process, and it trains with every core while the loop below uses one, like a
    trial. It runs before Ray starts, so nothing else competes for the CPUs."""
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-overview-") as tmp:
        out = Path(tmp) / "train_throughput.json"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"),
               "--images", str(sizes.tp_images), "--epochs", str(sizes.tp_epochs),
               "--repeats", str(sizes.tp_repeats), "--config", sizes.tp_config,
               "--json", str(out)]
        if data:
            cmd += ["--data", data]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise RuntimeError(f"train_throughput.py failed (exit {done.returncode})")
        results: dict[str, Any] = json.loads(out.read_text())["results"]
    return results


def search(case: str, data: str | None, sizes: Sizes, trials: int | None = None) -> dict[str, Any]:
    """One search, timed from the caller's side (data loading and the conclusion included),
    in a fresh storage folder; returns the configurations it ran, in trial order."""
    from mnist_hpo.reports import load_experiment
    from mnist_hpo.search.tune.driver import run_search
    from mnist_hpo.search.tune.settings import SearchSettings
    from mnist_hpo.spaces import load_space

    workers, cpus, reuse = CASES[case]
    n = trials or sizes.trials
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-overview-") as storage:
        settings = SearchSettings(
            space=load_space("smoke"), name="overview", storage=storage, trials=n, epochs=1,
            scheduler="fifo", cpus_per_trial=float(cpus), max_concurrent=workers, seed=0,
            data=data, subset=sizes.images, validation=sizes.validation, reuse_workers=reuse)
        probe = MemoryProbe()  # search_overhead.py's: training seconds and processes per trial
        start = time.perf_counter()
        outcome = run_search(settings, command=["benchmarks/overview.py"], callbacks=[probe],
                             quiet=True)
        wall = time.perf_counter() - start
        # A search that lost trials would look fast: fail loudly instead (CI runs this).
        if outcome.status is not SearchStatus.FINISHED or outcome.errored or outcome.trials != n:
            raise RuntimeError(f"search {case!r}: {outcome.status}, {outcome.trials}/{n} "
                               f"trials, errors: {outcome.failed}")
        configs = [t.params for t in load_experiment(outcome.experiment).trials]
    return {"wall_s": wall, "train_s": probe.train_s, "processes": len(probe.rss_mb),
            "configs": configs}


def plain_loop(configs: list[dict[str, Any]], data: str | None, sizes: Sizes) -> dict[str, Any]:
    """What a user without Ray would write: load the data, train each configuration in turn.
    Same split, seed, epochs and thread count (1) as a trial; no checkpoints, no processes."""
    import keras

    from mnist_hpo.search.training.data import load_mnist, split_mnist
    from mnist_hpo.search.training.fit import train

    start = time.perf_counter()
    split = split_mnist(load_mnist(data), validation=sizes.validation, subset=sizes.images,
                        seed=0)
    train_s = []
    for config in configs:
        keras.backend.clear_session()  # as a reused worker does between trials
        train_s.append(train(config, split, epochs=1, seed=0).seconds)
    return {"wall_s": time.perf_counter() - start, "train_s": train_s}


def canonical(configs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(c, sort_keys=True) for c in configs)


def run_all(data: str | None, sizes: Sizes) -> dict[str, Any]:
    """Searches and the loop, alternating; Ray is started once and shared by every search."""
    import ray

    from mnist_hpo.search.tune.driver import start_ray
    from mnist_hpo.search.tune.settings import SearchSettings
    from mnist_hpo.spaces import load_space

    # The driver's own start-up (same worker environment as `mnist-hpo search`); run_search
    # then joins this runtime instead of starting and stopping one per search.
    start_ray(SearchSettings(space=load_space("smoke"), name="overview"))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*CASES, LOOP]}
    # The loop needs the configurations, so it comes right after the first search. With one
    # CPU, 2 workers or 2 CPUs per trial could never be scheduled: Ray would wait forever.
    order = ["1 worker", LOOP, "2 workers", "1 worker x 2 cpus", "1 worker, fresh"]
    if (os.cpu_count() or 1) < 2:
        order = ["1 worker", LOOP, "1 worker, fresh"]
    configs: list[dict[str, Any]] = []
    try:
        if sizes.warm_up:
            search("1 worker", data, sizes, trials=1)
        for rep in range(sizes.repeats):
            for case in order if rep % 2 == 0 else order[::-1]:
                if case == LOOP:
                    runs[LOOP].append(plain_loop(configs, data, sizes))
                    continue
                run = search(case, data, sizes)
                configs = configs or run["configs"]
                # Same seed, same sampler: every search should draw the same configurations.
                run["same_configs"] = canonical(run.pop("configs")) == canonical(configs)
                runs[case].append(run)
    finally:
        ray.shutdown()
    return {"runs": {k: v for k, v in runs.items() if v}, "configs": configs}


def med(runs: list[dict[str, Any]]) -> float:
    return float(statistics.median(r["wall_s"] for r in runs))


def table(tp: dict[str, Any], searches: dict[str, Any], sizes: Sizes,
          tf_import_s: float) -> list[dict[str, Any]]:
    """The rows: (measurement, ours, peer, ratio = ours / peer, note)."""
    rows: list[dict[str, Any]] = []

    def row(what: str, ours: float, peer: float, note: str) -> None:
        rows.append({"measurement": what, "ours": ours, "peer": peer, "ratio": ours / peer,
                     "note": note})

    for label in ("no augmentation", "augmented"):
        ips = tp[label]["images_per_second"]
        row(f"train images/s, {label}", ips["mnist-hpo"], ips["bare keras fit"],
            f"vs bare keras fit; {sizes.tp_images} images, "
            f"{'seed' if sizes.tp_config == '{}' else 'smoke-sized'} network")
    r = searches["runs"]
    n = sizes.trials
    one, loop = med(r["1 worker"]), med(r[LOOP])
    row(f"search vs plain loop, wall s ({n} trials)", one, loop,
        f"+{(one - loop) / n:.2f} s/trial; loop excludes TF import ({tf_import_s:.1f} s)")
    if "2 workers" in r:
        two, wide = med(r["2 workers"]), med(r["1 worker x 2 cpus"])
        row("2 workers vs 1 worker, wall s", two, one, f"speed-up {one / two:.2f}x")
        row("2 workers vs 1 worker x 2 cpus, wall s", two, wide, f"speed-up {wide / two:.2f}x")
    fresh = med(r["1 worker, fresh"])
    procs = (r["1 worker"][0]["processes"], r["1 worker, fresh"][0]["processes"])
    row("reused vs fresh workers, wall s", one, fresh,
        f"fresh/reused {fresh / one:.2f}x; {procs[0]} vs {procs[1]} processes")
    return rows


def print_table(rows: list[dict[str, Any]], info: dict[str, Any], sizes: Sizes) -> None:
    print(f"\nmnist-hpo overview: {info['cpus']} CPUs, {info['cpu']}; Python {info['python']}, "
          f"TF {info['tensorflow']}, Keras {info['keras']}, Ray {info['ray']}, "
          f"Optuna {info['optuna']}")
    print(f"searches: smoke space, FIFO, 1 epoch, {sizes.images} images, median of "
          f"{sizes.repeats} run(s); ratio = mnist-hpo / peer")
    print(f"{'measurement':<40} {'mnist-hpo':>10} {'peer':>10} {'ratio':>6}  note")
    for r in rows:
        print(f"{r['measurement']:<40} {r['ours']:>10,.1f} {r['peer']:>10,.1f} "
              f"{r['ratio']:>6.2f}  {r['note']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run each (CI)")
    p.add_argument("--out", help="folder for overview.json (default: benchmarks/results; "
                   "with --quick a new temporary folder)")
    args = p.parse_args(argv)
    args.out = str(out_dir(args.out, quick=args.quick, default="benchmarks/results",
                           name="overview", files=["overview.json"]))
    return args


def main() -> None:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    start = time.perf_counter()
    prepare_tensorflow()
    info = machine()
    tp = throughput(args.data, sizes)
    phases = {"throughput_s": time.perf_counter() - start}
    # The plain loop trains in this process with one thread, as a trial with 1 CPU does;
    # TensorFlow's import is timed because every fresh trial process pays it too.
    t0 = time.perf_counter()
    set_threads(1)
    from mnist_hpo.search.training import fit  # noqa: F401  (loads TensorFlow and Keras)

    tf_import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    searches = run_all(args.data, sizes)
    phases |= {"tf_import_s": tf_import_s, "searches_and_loop_s": time.perf_counter() - t0}
    rows = table(tp, searches, sizes, tf_import_s)
    print_table(rows, info, sizes)
    total = time.perf_counter() - start
    same = all(run.get("same_configs", True) for runs in searches["runs"].values()
               for run in runs)
    if not same:
        print("warning: some searches drew other configurations than the first (see JSON)")
    print(f"total {total:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "overview.json"
    path.write_text(json.dumps({
        "args": vars(args), "sizes": asdict(sizes), "machine": info, "total_s": total,
        "phases": phases, "rows": rows, "throughput": tp, "searches": searches,
        "same_configs": same}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
