"""How long ``mnist-hpo leaderboard`` takes on a 1,000-trial experiment (goal: under 2 s).

Writes an experiment folder in Ray Tune's layout (params.json, progress.csv per trial, 8
epochs each, some stopped early, some errored), then times the command as a user runs it:
a fresh process, from start to the printed table. The experiment lives in a temporary
folder, deleted at the end; the result is only printed, so ``--quick`` (the same run) has
nothing to keep away from a full run's results.

    python benchmarks/leaderboard_scale.py --trials 1000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COLUMNS = ["loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second",
           "epoch", "done", "training_iteration", "trial_id", "time_total_s", "node_ip"]


def write_experiment(root: Path, trials: int, epochs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    root.mkdir(parents=True)
    (root / "search.json").write_text(json.dumps({
        "name": root.name, "status": "finished", "searched": ["learning_rate", "dense_units"],
        "budget": {"trials": trials, "epochs": epochs}}))
    for n in range(1, trials + 1):
        folder = root / f"trial_{n:04d}"
        folder.mkdir()
        lr = 10 ** rng.uniform(-4, -2)
        (folder / "params.json").write_text(json.dumps(
            {"learning_rate": lr, "dense_units": rng.choice([64, 128, 256])}))
        ran = epochs if rng.random() < 0.3 else rng.randint(1, epochs - 1)
        with (folder / "progress.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for e in range(1, ran + 1):
                v = 0.9 + 0.09 * (1 - 1 / (e + 1)) + rng.uniform(-0.01, 0.01)
                w.writerow([1 - v, v, 1 - v, v, 40.0, 1300.0, e, e == epochs, e, f"t{n}",
                            40.0 * e, "10.0.0.2"])
        if rng.random() < 0.02:
            (folder / "error.txt").write_text("Traceback ...\nFloatingPointError: NaN loss\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true",
                   help="same as the default; it is fast and saves no file")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "big"
        write_experiment(root, args.trials, args.epochs)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "mnist_hpo.search", "leaderboard",
                                   str(root)], capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - start)
        rows = len(proc.stdout.splitlines()) - 1
    print(f"leaderboard of {args.trials} trials x up to {args.epochs} epochs: {rows} rows, "
          f"{min(times):.2f} s best, {max(times):.2f} s worst of {args.repeats} "
          f"(fresh process each; goal < 2 s)")


if __name__ == "__main__":
    main()
