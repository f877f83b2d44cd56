"""``mnist-hpo leaderboard``: read an experiment folder (no TensorFlow, no Ray)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from search.cli_args import positive_int


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "leaderboard", help="rank the trials of an experiment (works during a search too)",
        description="One row per trial: rank, trial, state, best and last val_accuracy, "
                    "val_loss, epochs, wall time, node and the searched hyperparameters.")
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment folder")
    p.add_argument("--top", type=positive_int, metavar="K", help="only the best K trials")
    p.add_argument("--sort", default="val_accuracy", metavar="METRIC",
                   help="val_accuracy (best epoch, default), last_val_accuracy, val_loss, "
                        "epochs, wall_time_s, trial, or a searched parameter")
    p.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    p.add_argument("--watch", nargs="?", const=5.0, type=float, metavar="SECONDS",
                   help="redraw every SECONDS (default 5) until the search finishes")
    p.set_defaults(run=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    from reports.leaderboard import leaderboard_rows, render
    from reports.records import load_experiment

    while True:
        experiment = load_experiment(args.experiment)
        text = render(leaderboard_rows(experiment, sort=args.sort, top=args.top), args.format)
        for skipped in experiment.skipped:
            print(f"warning: skipped {skipped}", file=sys.stderr)
        running = experiment.manifest.get("status") != "finished"
        if not args.watch:
            print(text)
            return 0
        # Clear the screen and home the cursor, so the table redraws in place.
        print(f"\033[2J\033[H{experiment.path} ({'running' if running else 'finished'}, "
              f"{len(experiment.trials)} trials, {time.strftime('%H:%M:%S')})\n{text}",
              flush=True)
        if not running:
            return 0
        time.sleep(args.watch)
