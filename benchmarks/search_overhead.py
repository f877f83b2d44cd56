"""Search overhead: reused worker processes against a fresh process per trial.

Runs the same small search twice in one go (``smoke`` space, FIFO, one epoch per trial,
same seed and data), once with ``reuse_workers`` and once without, and reports wall time,
time per trial beyond training, and each worker's memory after every trial, which is how a
leak through reuse would show (Keras state is cleared between trials).

    python benchmarks/search_overhead.py --data ../shared/data/mnist.npz

Results go to ``--json`` (default: benchmarks/results/search_overhead.json); a ``--quick``
run writes to a new temporary folder instead, and refuses (exit 2) a ``--json`` that holds a
full run's results (``benchmarks/output.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune

from benchmarks.output import out_file
from mnist_hpo.search.tune.driver import run_search
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


class MemoryProbe(tune.Callback):
    """Reads each trial process's resident memory (Linux /proc) when it reports."""

    def __init__(self) -> None:
        self.rss_mb: dict[int, list[float]] = defaultdict(list)
        self.train_s: list[float] = []

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        pid = int(result["pid"])
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmRSS"))
        self.rss_mb[pid].append(kb / 1024)
        self.train_s.append(float(result["time_this_iter_s"]))


def measure(reuse: bool, args: argparse.Namespace, storage: str) -> dict[str, Any]:
    settings = SearchSettings(
        space=load_space("smoke"), name=f"reuse-{reuse}-{time.time_ns()}", storage=storage,
        trials=args.trials, epochs=1, scheduler="fifo", cpus_per_trial=1.0, seed=0,
        data=args.data, subset=args.images, validation=1000, reuse_workers=reuse)
    probe = MemoryProbe()
    start = time.perf_counter()
    run_search(settings, command=["benchmark"], callbacks=[probe], quiet=True)
    wall = time.perf_counter() - start
    slots = min(args.trials, os.cpu_count() or 1)
    return {
        "wall_s": wall,
        "trials": args.trials,
        "mean_trial_train_s": statistics.mean(probe.train_s),
        # Wall time the trials did not spend in their own (reported) training epoch.
        "overhead_per_trial_s": (wall * slots - sum(probe.train_s)) / args.trials,
        "processes": len(probe.rss_mb),
        "rss_mb_per_process": {str(p): [round(v) for v in vals]
                               for p, vals in probe.rss_mb.items()},
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="6 trials")
    p.add_argument("--only", choices=("reuse", "fresh"), help="measure one way only")
    p.add_argument("--json", help="result file (default: "
                   "benchmarks/results/search_overhead.json; with --quick one in a new "
                   "temporary folder)")
    args = p.parse_args(argv)
    if args.quick:
        args.trials = 6
    args.json = str(out_file(args.json, quick=args.quick,
                             default="benchmarks/results/search_overhead.json",
                             name="search_overhead"))
    return args


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-bench-") as storage:
        results = {name: measure(name == "reuse", args, storage)
                   for name in ("reuse", "fresh") if args.only in (None, name)}
    print(f"\nSearch overhead: {args.trials} smoke trials x 1 epoch on {args.images:,} images, "
          f"1 CPU per trial, {os.cpu_count()} CPUs")
    print(f"{'workers':<8} {'wall s':>7} {'train s/trial':>14} {'overhead s/trial':>17} "
          f"{'processes':>10}  RSS MB per process, trial by trial")
    for name, r in results.items():
        rss = "; ".join(" ".join(map(str, v)) for v in r["rss_mb_per_process"].values())
        print(f"{name:<8} {r['wall_s']:>7.1f} {r['mean_trial_train_s']:>14.2f} "
              f"{r['overhead_per_trial_s']:>17.2f} {r['processes']:>10}  {rss}")
    ratio = None
    if len(results) == 2:
        ratio = results["fresh"]["wall_s"] / results["reuse"]["wall_s"]
        print(f"fresh / reuse wall time: {ratio:.2f}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "results": results, "ratio": ratio},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
