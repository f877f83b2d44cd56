"""Training throughput with TensorFlow's oneDNN CPU kernels on and off, as a search trains.

TensorFlow reads ``TF_ENABLE_ONEDNN_OPTS`` once, when it loads, so each side runs in its own
processes: ``--concurrency`` of them at once (1: a trial alone; 2: two trials on a 2-core
machine, as ``mnist-hpo search`` runs them), each on one thread, training the same
configuration with ``mnist_hpo.search.training.Fit`` on the same images. The sides alternate
case by case, in a rotated order each round, so that a shared machine's noise hits both
alike. A case's figure is the machine's images/s: the sum over its processes of the median
training images/s of their epochs after the first (graph tracing), validation excluded.

    python benchmarks/cpu_kernels.py --data ../shared/data/mnist.npz

Results go to ``--json`` (default: benchmarks/results/cpu_kernels.json), saved after each
case; a rerun skips the cases already saved with the same arguments. A ``--quick`` run
writes to a new temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.output import out_file
from mnist_hpo.search.training.runtime import ONEDNN_ENV

#: The two sides, as the value each gives ``TF_ENABLE_ONEDNN_OPTS``.
SIDES = {"onednn": "1", "eigen": "0"}
#: What a case's result depends on: a saved case is reused only if these are unchanged.
SCALE = ("images", "epochs", "config")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--images", type=int, default=4000, help="training images (default 4000)")
    p.add_argument("--epochs", type=int, default=2, help="epochs per process; the first is "
                   "warm-up (default 2)")
    p.add_argument("--rounds", type=int, default=2, help="rounds of every case (default 2)")
    p.add_argument("--concurrency", default="1,2",
                   help="processes training at once, comma-separated (default 1,2)")
    p.add_argument("--config", default="{}", help="configuration JSON (default: the seed)")
    p.add_argument("--json", help="result file (default: benchmarks/results/cpu_kernels.json;"
                   " with --quick one in a new temporary folder)")
    p.add_argument("--quick", action="store_true", help="300 images, 2 epochs, 1 round")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.rounds = 300, 2, 1
    if args.epochs < 2:
        p.error(f"--epochs {args.epochs}: must be at least 2 (the first one is warm-up)")
    args.concurrency = [int(c) for c in str(args.concurrency).split(",")]
    if not args.worker:
        args.json = str(out_file(args.json, quick=args.quick,
                                 default="benchmarks/results/cpu_kernels.json",
                                 name="cpu_kernels"))
    return args


def worker(args: argparse.Namespace) -> None:
    """One process's training; prints its median images/s after the first epoch as JSON."""
    from mnist_hpo.search.training.runtime import set_threads

    set_threads(1)  # starts TensorFlow with the parent's TF_ENABLE_ONEDNN_OPTS
    from mnist_hpo.search.training.data import load_mnist, split_mnist
    from mnist_hpo.search.training.fit import Fit

    split = split_mnist(load_mnist(args.data), validation=1000, subset=args.images)
    fit = Fit(json.loads(args.config), split, epochs=args.epochs)
    rows = [fit.epoch() for _ in range(args.epochs)]
    print(json.dumps({"images_per_second": statistics.median(
        r["images_per_second"] for r in rows[1:]), "val_accuracy": rows[-1]["val_accuracy"]}))


def run_case(args: argparse.Namespace, side: str, concurrency: int) -> dict[str, Any]:
    """``concurrency`` worker processes at once with ``side``'s kernels; their figures."""
    command = [sys.executable, __file__, "--worker", "--images", str(args.images),
               "--epochs", str(args.epochs), "--config", args.config]
    if args.data:
        command += ["--data", args.data]
    env = {**os.environ, ONEDNN_ENV: SIDES[side]}
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
             for _ in range(concurrency)]
    outputs = [p.communicate()[0] for p in procs]
    failed = [p.returncode for p in procs if p.returncode != 0]
    if failed:
        raise SystemExit(f"a {side} worker failed (exit {failed[0]})")
    each = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    return {"side": side, "concurrency": concurrency, "processes": each,
            "images_per_second": sum(e["images_per_second"] for e in each)}


def cpu() -> dict[str, Any]:
    """The processor, as far as Linux tells it: whether TensorFlow turns oneDNN on by
    itself depends on it (AVX-512 VNNI or BF16, AMX)."""
    info: dict[str, Any] = {"machine": platform.machine(), "cpus": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    info |= {k.replace(" ", "_"): fields[k] for k in ("model name", "cpu family", "model")
             if k in fields}
    flags = fields.get("flags", "").split()
    info["avx512_vnni_bf16_or_amx"] = any(f in flags for f in (
        "avx512_vnni", "avx512_bf16", "amx_tile"))
    return info


def summarize(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per concurrency: each side's median machine images/s and oneDNN's speed-up."""
    summary: dict[str, Any] = {}
    for c in sorted({case["concurrency"] for case in cases}):
        figures: dict[str, list[float]] = {}
        for case in cases:
            if case["concurrency"] == c:
                figures.setdefault(case["side"], []).append(case["images_per_second"])
        med = {side: statistics.median(figures[side]) for side in SIDES if side in figures}
        row: dict[str, Any] = {"images_per_second": med}
        if len(med) == len(SIDES):
            row["speedup"] = med["onednn"] / med["eigen"]
        summary[str(c)] = row
    return summary


def save(out: Path, args: argparse.Namespace, cases: list[dict[str, Any]]) -> None:
    """The run so far, with its summary and the processor it ran on."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "cpu": cpu(), "cases": cases,
                               "summary": summarize(cases)}, indent=2) + "\n")


def main() -> None:
    args = parse_args()
    if args.worker:
        worker(args)
        return
    out = Path(args.json)
    saved: list[dict[str, Any]] = []
    if out.exists():
        old = json.loads(out.read_text())
        if all(old["args"].get(k) == getattr(args, k) for k in SCALE):
            saved = old["cases"]
    cases = list(saved)
    for r in range(args.rounds):
        for c in args.concurrency:
            sides = list(SIDES) if r % 2 == 0 else list(reversed(SIDES))
            for side in sides:
                done = [k for k in saved if k["round"] == r and k["concurrency"] == c
                        and k["side"] == side]
                if done:
                    continue
                case = run_case(args, side, c) | {"round": r}
                cases.append(case)
                print(f"round {r + 1}: {c} at once, {side:<6} "
                      f"{case['images_per_second']:8,.0f} images/s", flush=True)
                save(out, args, cases)
    save(out, args, cases)
    for c, row in summarize(cases).items():
        ips = row["images_per_second"]
        print(f"{c} at once: oneDNN {ips.get('onednn', 0):,.0f}, Eigen {ips.get('eigen', 0):,.0f}"
              f" images/s; speed-up {row.get('speedup', float('nan')):.2f}x")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
