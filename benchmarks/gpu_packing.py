"""Aggregate training throughput with 1, 2, 4 and 8 trials packed on one GPU.

Each step runs n trials at once with ``--gpus-per-trial 1/n`` (the seed network, one epoch
on the same images) and adds up the trials' own images/s. Trials share the GPU because each
lets TensorFlow grow its memory instead of taking all of it; if packing did not work, the
runs with 4 or 8 trials would fail with out-of-memory errors, which this script reports.

    python benchmarks/gpu_packing.py --data ../shared/data/mnist.npz

Without a GPU visible to TensorFlow it says so and measures nothing. Results go to
``--json`` (default: benchmarks/results/gpu_packing.json); a ``--quick`` run writes to a new
temporary folder instead, and refuses (exit 2) a ``--json`` that holds a full run's results
(``benchmarks/output.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ray import tune

from benchmarks.output import out_file
from mnist_hpo.search.tune.driver import run_search
from mnist_hpo.search.tune.settings import SearchSettings
from mnist_hpo.spaces import load_space


def gpus_visible() -> int:
    """GPUs TensorFlow sees, asked in a separate process so this one stays GPU-free."""
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    return int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0


class Rates(tune.Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                        result: dict[str, Any], **info: Any) -> None:
        self.rates.append(float(result["images_per_second"]))


def measure(n: int, args: argparse.Namespace, storage: str) -> dict[str, Any]:
    settings = SearchSettings(
        space=load_space("seed"), name=f"pack-{n}-{time.time_ns()}", storage=storage,
        trials=n, epochs=1, scheduler="fifo", sampler="random", cpus_per_trial=1.0,
        gpus_per_trial=1.0 / n, max_concurrent=n, data=args.data, subset=args.images,
        validation=1000)
    probe = Rates()
    start = time.perf_counter()
    outcome = run_search(settings, command=["gpu_packing"], callbacks=[probe], quiet=True)
    return {"trials": n, "errored": outcome.errored, "wall_s": time.perf_counter() - start,
            "aggregate_images_per_second": sum(probe.rates), "per_trial": probe.rates}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--packs", default="1,2,4,8", help="trials per GPU to measure")
    p.add_argument("--quick", action="store_true", help="5,000 images, 1 and 4 trials")
    p.add_argument("--json", help="result file (default: benchmarks/results/gpu_packing.json; "
                   "with --quick one in a new temporary folder)")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.packs = 5000, "1,4"
    args.json = str(out_file(args.json, quick=args.quick,
                             default="benchmarks/results/gpu_packing.json", name="gpu_packing"))
    return args


def main() -> None:
    args = parse_args()
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    if gpus_visible() == 0:
        print("No GPU present: TensorFlow sees no GPU on this machine, so there is nothing "
              "to pack. Run this on a machine with a CUDA GPU.")
        out.write_text(json.dumps({"gpu": False, "args": vars(args)}) + "\n")
        print(f"wrote {out}")
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-gpu-") as storage:
        for n in (int(x) for x in args.packs.split(",")):
            results.append(measure(n, args, storage))
    base = results[0]["aggregate_images_per_second"]
    print(f"\nGPU packing: seed network, 1 epoch on {args.images:,} images per trial")
    print(f"{'trials/GPU':>10} {'errored':>8} {'aggregate img/s':>16} {'x one trial':>12}")
    for r in results:
        print(f"{r['trials']:>10} {r['errored']:>8} {r['aggregate_images_per_second']:>16,.0f} "
              f"{r['aggregate_images_per_second'] / base:>12.2f}")
    out.write_text(json.dumps({"gpu": True, "args": vars(args), "results": results},
                              indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
