"""``mnist-hpo leaderboard``, ``report`` and ``export``: read an experiment folder.

The leaderboard and the report never import TensorFlow or Ray; export loads Keras to
reload and verify the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from mnist_hpo.search.cli.args import (
    add_experiment_argument,
    ensemble_size,
    positive_float,
    positive_int,
)
from mnist_hpo.search.errors import UsageError


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "leaderboard", help="rank the trials of an experiment (works during a search too)",
        description="One row per trial: rank, trial, state, best and last val_accuracy, "
                    "val_loss, epochs, wall time, node, what its model costs (parameters, "
                    ".keras size, ms per image at batch 1 and 256, measured on its worker) "
                    "and the searched hyperparameters.")
    add_experiment_argument(p)
    p.add_argument("--top", type=positive_int, metavar="K", help="only the best K trials")
    p.add_argument("--sort", default="val_accuracy", metavar="METRIC",
                   help="val_accuracy (best epoch, default), last_val_accuracy, val_loss, "
                        "epochs, wall_time_s, trial, params, file_mb, ms_per_image_b1, "
                        "ms_per_image_b256, or a searched parameter")
    p.add_argument("--format", choices=("table", "csv", "json", "markdown"), default="table")
    p.add_argument("--pareto", nargs="?", const="", choices=("", "params", "latency"),
                   metavar="params|latency",
                   help="only the trials no other beats on both val_accuracy and the cost "
                        "(default: the cost the search minimised, else params), cheapest "
                        "first")
    p.add_argument("--watch", nargs="?", const=5.0, type=float, metavar="SECONDS",
                   help="redraw every SECONDS (default 5) until the search finishes")
    p.set_defaults(run=run_leaderboard)

    r = sub.add_parser(
        "report", help="figures and an HTML report of an experiment",
        description="Writes PNG and SVG figures (best trial's accuracy and loss per epoch, "
                    "top trials' validation curves, search history, parameter importance, "
                    "parameters against val_accuracy; with an export, the test confusion "
                    "matrix and misclassified digits) and a self-contained report.html.")
    add_experiment_argument(r)
    r.add_argument("--out", metavar="DIR", help="output folder (default: EXPERIMENT/report)")
    r.add_argument("--top", type=positive_int, default=5, metavar="K",
                   help="trials in the overlaid curves and the table (default: 5)")
    r.add_argument("--export", metavar="DIR",
                   help="an export folder to take test results from (default: EXPERIMENT/export)")
    r.set_defaults(run=run_report)

    e = sub.add_parser(
        "export", help="export the best trial's model, verified, with its test accuracy",
        description="Exports the checkpoint of the trial's best epoch. Checks that it scores "
                    "the recorded val_accuracy of that epoch on the search's validation "
                    "images; writes model.keras and a TensorFlow SavedModel (saved_model/, "
                    "endpoint 'serve'), config.json and metrics.json; reloads both in a fresh "
                    "process and checks their predictions equal the model's; evaluates once "
                    "on the test set. Exit 1 if a check fails. --ensemble, several --trial "
                    "numbers or --warm-starts export several trials averaged in one model, "
                    "verified the same way.")
    add_experiment_argument(e)
    which = e.add_mutually_exclusive_group()
    which.add_argument("--trial", type=trial_numbers, metavar="N[,M...]",
                       help="trial number (default: best); several, comma-separated: an "
                            "ensemble of exactly those trials, equal weights (default out: "
                            "EXPERIMENT/export-trials-N-M)")
    which.add_argument("--ensemble", type=ensemble_size, metavar="K|auto",
                       help="an ensemble of the best trials instead: only trials within 2 "
                            "standard errors of the best are candidates, chosen greedily on "
                            "the validation images and pruned to the members whose removal "
                            "would cost more than noise (auto: up to 10; K: at most K), "
                            "their softmax outputs averaged in one model; prints validation "
                            "accuracy against K; verified and tested like one model, cost "
                            "included (default out: EXPERIMENT/export-ensemble)")
    which.add_argument("--warm-starts", action="store_true",
                       help="an ensemble of the search's warm-start trials alone (the seed "
                            "network and its modern twin; in a Pareto search, the seed and "
                            "the cheapest network), equal weights: beside --ensemble auto, "
                            "what the search itself added (default out: "
                            "EXPERIMENT/export-warm-starts)")
    e.add_argument("--max-params", type=positive_int, metavar="N",
                   help="export the most accurate trial with at most N parameters")
    e.add_argument("--max-latency-ms", type=positive_float, metavar="MS",
                   help="export the most accurate trial at most MS ms per image at batch 1 "
                        "(as measured on the worker that trained it)")
    e.add_argument("--out", metavar="DIR", help="new folder (default: EXPERIMENT/export)")
    e.add_argument("--data", metavar="PATH",
                   help="the search's MNIST file, if it moved (validation and test images; "
                        "default: the recorded path, else $MNIST_HPO_DATA)")
    e.set_defaults(run=run_export)


def run_leaderboard(args: argparse.Namespace) -> int:
    from mnist_hpo.reports.leaderboard import leaderboard_rows, render
    from mnist_hpo.search.experiment import SearchStatus, load_experiment

    while True:
        experiment = load_experiment(args.experiment)
        rows = leaderboard_rows(experiment, sort=args.sort, top=None if args.pareto is not None
                                else args.top)
        if args.pareto is not None:
            rows = pareto_rows(experiment, rows, args.pareto)[:args.top]
        text = render(rows, args.format)
        if not args.watch:
            print(text)
            return 0
        status = SearchStatus.of(experiment.manifest)
        # Clear the screen and home the cursor, so the table redraws in place.
        print(f"\033[2J\033[H{experiment.path} ({status.value}, "
              f"{len(experiment.trials)} trials, {time.strftime('%H:%M:%S')})\n{text}",
              flush=True)
        if status.ended:
            return 0
        time.sleep(args.watch)


def pareto_rows(experiment: Any, rows: list[dict[str, Any]], cost: str
                ) -> list[dict[str, Any]]:
    """The leaderboard rows of the Pareto front, cheapest first (ranks as on the full
    leaderboard)."""
    from mnist_hpo.reports.pareto import front, points, search_cost

    chosen = front(points(experiment, cost or search_cost(experiment.manifest)))
    by_trial = {r["trial"]: r for r in rows}
    return [by_trial[p.trial] for p in chosen if p.trial in by_trial]


def run_report(args: argparse.Namespace) -> int:
    from mnist_hpo.reports.report import write_report
    from mnist_hpo.search.experiment import load_experiment

    experiment = load_experiment(args.experiment)
    out = Path(args.out) if args.out else experiment.path / "report"
    page = write_report(experiment, out, top=args.top,
                        export_dir=Path(args.export) if args.export else None)
    print(f"Wrote {page} and its figures (PNG and SVG) in {out}/")
    return 0


def trial_numbers(text: str) -> list[int]:
    """argparse type for ``--trial``: one trial number, or several, comma-separated."""
    numbers = []
    for part in text.split(","):
        try:
            numbers.append(positive_int(part.strip()))
        except argparse.ArgumentTypeError as err:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {err}; give trial numbers, like 3 or 1,4,7") from None
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"{text!r}: trial {repeated[0]} is listed twice; "
                                         f"give each trial once")
    return numbers


def run_export(args: argparse.Namespace) -> int:
    from mnist_hpo.reports.export import INPUT, ExportError, export_trial
    from mnist_hpo.search.experiment import load_experiment

    experiment = load_experiment(args.experiment)
    limits = {name: value for name, value in (("params", args.max_params),
                                                ("latency", args.max_latency_ms))
              if value is not None}
    if limits and (args.trial is not None or args.ensemble is not None or args.warm_starts):
        raise UsageError("--max-params/--max-latency-ms choose the trial: not with --trial "
                         "or --ensemble, nor with --warm-starts")
    if args.ensemble is not None or args.warm_starts or len(args.trial or []) > 1:
        return run_export_ensemble(args, experiment)
    number = args.trial[0] if args.trial else None
    if limits:
        from mnist_hpo.reports.pareto import COSTS, amount, best_within

        chosen = best_within(experiment, limits)
        number = chosen.number
        costs = ", ".join(f"{amount(n, chosen.cost[COSTS[n][0]])} {COSTS[n][1]}"
                          for n in limits)
        print(f"The most accurate trial within the limit: trial {number} ({costs}, "
              f"val_accuracy {chosen.best_val_accuracy:.4f})")
    out = Path(args.out) if args.out else experiment.path / "export"
    try:
        result = export_trial(experiment, out, number=number, data=args.data)
    except ExportError as err:
        print(f"mnist-hpo export: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"Exported trial {result.trial}, epoch {result.epoch} to {out}/: model.keras, "
          f"saved_model/, config.json, metrics.json")
    print(f"Re-evaluated on the search's validation images: val_accuracy "
          f"{result.val_accuracy:.4f}, as recorded")
    print(f"Reloaded in a fresh process: predictions match (largest difference "
          f"{result.max_difference:.1e})")
    print(f"test_accuracy {result.test_accuracy:.4f} (10,000 test images, evaluated once)")
    print(f"The model takes {INPUT}.")
    return 0


def run_export_ensemble(args: argparse.Namespace, experiment: Any) -> int:
    """``--ensemble K|auto``, ``--trial N,M...`` or ``--warm-starts``."""
    from mnist_hpo.reports.ensemble_summary import summary_lines
    from mnist_hpo.reports.export import INPUT, ExportError
    from mnist_hpo.reports.export_ensemble import (
        ENSEMBLE_DIR,
        WARM_STARTS_DIR,
        export_ensemble,
        listed_dir,
        warm_start_trials,
    )

    trials, flag, folder = None, "--ensemble", ENSEMBLE_DIR
    if args.warm_starts:
        trials, flag, folder = warm_start_trials(experiment), "--warm-starts", WARM_STARTS_DIR
    elif args.ensemble is None:
        trials, flag, folder = args.trial, "--trial", listed_dir(args.trial)
    out = Path(args.out) if args.out else experiment.path / folder
    members = None if args.ensemble in (None, "auto") else int(args.ensemble)
    try:
        result = export_ensemble(experiment, out, members, data=args.data, trials=trials,
                                 flag=flag)
    except ExportError as err:
        print(f"mnist-hpo export: FAILED: {err}", file=sys.stderr)
        return 1
    for reason in result.skipped:
        print(f"mnist-hpo export: warning: skipped {reason}", file=sys.stderr)
    print("\n".join(summary_lines(result.metrics, str(out), INPUT)))
    return 0
