"""``mnist-hpo search``: Ray Tune dispatch, Optuna sampling, ASHA early stopping."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from mnist_hpo.search.cli.args import (
    add_data_options,
    add_experiment_argument,
    positive_float,
    positive_int,
)
from mnist_hpo.search.errors import UsageError
from mnist_hpo.search.experiment import SearchStatus
from mnist_hpo.search.tune.settings import SCHEDULERS, SearchSettings, parse_duration

if TYPE_CHECKING:
    from mnist_hpo.search.tune.outcome import SearchOutcome
from mnist_hpo.spaces import load_space


def loopback_if_local(address: str | None) -> None:
    """Without a cluster address, make the local Ray runtime bind its GCS, raylet and
    workers to 127.0.0.1 instead of every interface. Ray reads this when it is imported,
    hence before the driver is."""
    # Ray's switch for single-node mode, a private one (compat says why); imports no Ray.
    from mnist_hpo.search.tune.compat import RAY_LOOPBACK_ONLY

    if not address:
        os.environ.setdefault(RAY_LOOPBACK_ONLY, "0")


def recorded_address(experiment: str) -> str | None:
    """The cluster address an experiment ran on (``None``: a local runtime, or unreadable)."""
    from mnist_hpo.search.experiment import ExperimentError, read_manifest

    try:
        address = read_manifest(experiment)["resources"]["address"]
    except (ExperimentError, KeyError, TypeError):
        return None
    return None if address == "local" else str(address)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "search", help="search a space: Ray Tune runs the trials, Optuna samples them",
        description="Search a space. Ray Tune dispatches trials over this machine's CPUs and "
                    "GPUs (or a Ray cluster with --address); Optuna's TPE samples "
                    "configurations; ASHA makes poor trials wait at a rung and stops "
                    "them. Results go to STORAGE/NAME.")
    p.add_argument("--space", default="default", metavar="NAME|FILE",
                   help="preset or YAML space (default: default)")
    p.add_argument("--trials", type=positive_int, default=20, help="trials (default: 20)")
    p.add_argument("--epochs", type=positive_int,
                   help="maximum epochs per trial (default: the space's)")
    p.add_argument("--scheduler", choices=SCHEDULERS,
                   help="asha-promotion (default) pauses each trial at a rung until it is "
                        "in the top 1/F there and starts new ones meanwhile (ASHA as "
                        "published); asha stops a trial unless it is in the top 1/F of the "
                        "results so far (Ray's ASHA; the default with a cost --objective); "
                        "fifo runs each to the end")
    p.add_argument("--grace-period", type=positive_int, default=1, metavar="EPOCHS",
                   help="ASHA: epochs before a trial can be stopped (default: 1)")
    p.add_argument("--reduction-factor", type=positive_float, default=3.0, metavar="F",
                   help="ASHA: keep the best 1/F at each rung (default: 3)")
    p.add_argument("--sampler", choices=("tpe", "random"), default="tpe",
                   help="Optuna sampler (default: tpe)")
    p.add_argument("--cpus-per-trial", type=positive_float, default=1.0, metavar="N",
                   help="CPUs per trial; also its TensorFlow threads (default: 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="G",
                   help="GPUs per trial; 0.25 packs four trials on one GPU (default: 0)")
    p.add_argument("--max-concurrent", type=positive_int, metavar="N",
                   help="at most N trials at once (default: as resources allow)")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="end the search after this long (the search can be extended, not "
                        "resumed); asha-promotion plans for it from the epoch times it "
                        "measures: new configurations while they are affordable, then the "
                        "finalists trained to the end before it runs out: 90s, 30m, 2h "
                        "(default: none)")
    p.add_argument("--epoch-budget", type=positive_int, metavar="N",
                   help="stop the search once N epochs have been trained, all trials "
                        "together; asha-promotion plans for it, as for --time-budget: one "
                        "epoch per configuration first, the last epochs for the finalists "
                        "(default: none)")
    p.add_argument("--finalists", type=positive_int, metavar="K",
                   help="asha-promotion with --time-budget or --epoch-budget: the end of "
                        "the budget trains K trials to their last epoch, the best first "
                        "epoch and those as good that predict most unlike it, for the "
                        "ensemble export; a warm start still training then counts as one "
                        "(default: 2)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the sampler, the data split and every trial (default: 0)")
    p.add_argument("--address", metavar="HOST:PORT|auto",
                   help="join this Ray cluster (default: start Ray on this machine)")
    p.add_argument("--storage", default="experiments", metavar="DIR|URI",
                   help="where experiments live; a folder or a URI every node can write "
                        "(default: ./experiments)")
    p.add_argument("--name", help="experiment name (default: SPACE-TIMESTAMP)")
    p.add_argument("--max-failures", type=int, default=0, metavar="N",
                   help="retry a failed trial (exception, lost node) N times from its last "
                        "checkpoint before recording it as errored (default: 0)")
    p.add_argument("--max-failed-trials", type=positive_int, metavar="N",
                   help="stop the search once N trials have failed (default: never)")
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="no warm start and no prior: TPE alone (default: the seed network "
                        "first and its modern twin, batch norm and cosine decay, second, "
                        "when the space contains them; later trials drawn near the seed)")
    p.add_argument("--objective", default="accuracy", metavar="accuracy[,params|,latency]",
                   help="accuracy (default), or accuracy and a cost together: a Pareto "
                        "search maximising val_accuracy and minimising the parameter count "
                        "(params) or the time per image at batch 1 (latency), starting "
                        "from the seed network and the space's cheapest; ASHA ranks each "
                        "rung by (val_accuracy, cost) fronts")
    p.add_argument("--max-params", type=positive_int, metavar="N",
                   help="single-objective search: trials above N parameters count as "
                        "infeasible for TPE (Optuna constraints) and stop after epoch 1")
    p.add_argument("--max-latency-ms", type=positive_float, metavar="MS",
                   help="single-objective search: trials slower than MS per image at "
                        "batch 1 count as infeasible for TPE and stop after epoch 1")
    p.add_argument("--no-reuse-workers", dest="reuse_workers", action="store_false",
                   help="start a fresh process per trial (default: reuse them)")
    add_data_options(p)
    p.set_defaults(run=run)


def settings_from_args(args: argparse.Namespace) -> SearchSettings:
    """The flags → a checked :class:`SearchSettings`.

    Raises:
        UsageError: a bad value, or ``--finalists`` where no end is planned.
    """
    space = load_space(args.space)
    settings = SearchSettings(
        space=space,
        name=args.name or f"{space.name}-{time.strftime('%Y%m%d-%H%M%S')}",
        storage=args.storage, trials=args.trials, epochs=args.epochs or space.epochs,
        scheduler=args.scheduler or "", grace_period=args.grace_period,
        reduction_factor=args.reduction_factor, sampler=args.sampler,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        time_budget_s=parse_duration(args.time_budget) if args.time_budget else None,
        epoch_budget=args.epoch_budget, seed=args.seed, address=args.address, data=args.data,
        subset=args.subset,
        validation=args.validation, reuse_workers=args.reuse_workers,
        warm_start=args.warm_start,
        max_failures=args.max_failures, max_failed_trials=args.max_failed_trials,
        objective=args.objective, max_params=args.max_params,
        max_latency_ms=args.max_latency_ms,
        **({} if args.finalists is None else {"finalists": args.finalists}))
    if args.finalists is not None and args.finalists > settings.trials:
        raise UsageError(f"--finalists {args.finalists}: must be at most --trials "
                         f"({settings.trials})")
    if args.finalists is not None and not settings.plans_end:
        raise UsageError(f"--finalists {args.finalists}: finalists are planned under "
                         f"--scheduler asha-promotion with --time-budget or --epoch-budget "
                         f"(and --grace-period below --epochs); add a budget, or drop "
                         f"--finalists")
    return settings


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    loopback_if_local(settings.address)

    from mnist_hpo.search.tune.driver import run_search

    print(f"Searching {settings.space.name} ({len(settings.space.searched)} parameters): "
          f"{settings.trials} trials x up to {settings.epochs} epochs, {settings.sampler} "
          f"sampler, {settings.scheduler} scheduler, {settings.cpus_per_trial:g} CPU"
          f"{f' + {settings.gpus_per_trial:g} GPU' if settings.gpus_per_trial else ''} per "
          f"trial{_goal_text(settings)}", flush=True)
    return report_outcome(run_search(settings, command=sys.argv))


def _goal_text(settings: SearchSettings) -> str:
    goal = settings.goal
    if goal.multi:
        return f"; Pareto search: val_accuracy up, {goal.cost_key} down"
    limits = ", ".join(f"{k} <= {v:g}" for k, v in goal.limits.items())
    return f"; feasible: {limits}" if limits else ""


def report_outcome(outcome: SearchOutcome) -> int:
    """Print how the search ended, its trials counted as the leaderboard states them, the
    best trial and what to run next; return the exit code.

    0: the search ended as asked (every planned trial ran, or its time or epoch budget was
    spent) and at least one trial scored; 1: no trial scored, or the failure budget ended
    it; 130: interrupted (``mnist-hpo resume`` continues it).
    """
    from mnist_hpo.reports import tally_text

    print()
    status = outcome.status
    started = f"{sum(outcome.tally.values())} of {outcome.planned} planned trials started"
    if status is SearchStatus.INTERRUPTED:
        print(f"Interrupted with {started}; the experiment is saved. Continue it with: "
              f"mnist-hpo resume {outcome.experiment}")
    elif status.budget_spent:
        print(f"{status.value.capitalize()} with {started}.")
    elif status is SearchStatus.FAILURE_BUDGET:
        print(f"Stopped: {len(outcome.failed)} trials failed, the --max-failed-trials budget:")
        for number, reason in outcome.failed:
            print(f"  trial {number}: {reason}")
        print(f"Fix the cause, then continue with: mnist-hpo resume {outcome.experiment}")
    else:
        print(f"Finished: all {outcome.planned} planned trials ran.")
    print(f"Trials: {tally_text(outcome.tally)}. Experiment: {outcome.experiment}")
    if outcome.best_trial is None or outcome.best_config is None:
        print("No trial reported a result.")
    else:
        print(f"Best: trial {outcome.best_trial}, val_accuracy={outcome.best_score:.4f}")
        print(f"Best configuration: {json.dumps(outcome.best_config)}")
        print_next_steps(outcome.experiment)
    return exit_code(outcome)


def exit_code(outcome: SearchOutcome) -> int:
    """130 interrupted; 1 when the failure budget ended the search or no trial scored;
    else 0 (a budget that cut every trial mid-way still gave a best trial to export)."""
    if outcome.status is SearchStatus.INTERRUPTED:
        return 130
    if outcome.status is SearchStatus.FAILURE_BUDGET or outcome.best_trial is None:
        return 1
    return 0


def print_next_steps(experiment: str) -> None:
    """The leaderboard's top rows and the commands a user runs next."""
    from mnist_hpo.reports.leaderboard import leaderboard_rows, render
    from mnist_hpo.search.experiment import ExperimentError, load_experiment

    try:
        rows = leaderboard_rows(load_experiment(experiment), top=5)
    except ExperimentError:  # the folder is not local (a cloud --storage)
        rows = []
    if rows:
        print(f"\nTop {len(rows)} trials:")
        print(render(rows, "table"))
    print(f"\nNext:\n"
          f"  mnist-hpo leaderboard {experiment}            # every trial, ranked\n"
          f"  mnist-hpo report {experiment}                 # curves and figures: report.html\n"
          f"  mnist-hpo export {experiment}                 # the best model, verified\n"
          f"  mnist-hpo export {experiment} --ensemble auto # the best trials, averaged\n"
          f"  mnist-hpo search --space default --trials 200 --epochs 6 --time-budget 60m "
          f"--finalists 3   # a full search: an hour")


def add_resume_parser(sub: Any) -> None:
    p = sub.add_parser(
        "resume", help="continue an interrupted or killed search",
        description="Continue a search whose driver was interrupted (Ctrl-C) or killed: "
                    "finished trials are kept, unfinished ones restart from their last "
                    "checkpoint, and new trials start until the planned count is reached.")
    add_experiment_argument(p, data=True)
    p.set_defaults(run=run_resume)


def add_extend_parser(sub: Any) -> None:
    p = sub.add_parser(
        "extend", help="add trials to a finished search, learning from the earlier ones",
        description="Run N more trials in a finished experiment, optionally over a narrowed "
                    "space. The sampler starts from every earlier trial; the leaderboard "
                    "shows old and new trials together.")
    add_experiment_argument(p, data=True)
    p.add_argument("--trials", type=positive_int, required=True, metavar="N",
                   help="how many more trials")
    p.add_argument("--space", metavar="NAME|FILE", help="a new (e.g. narrowed) space")
    p.set_defaults(run=run_extend)


def run_extend(args: argparse.Namespace) -> int:
    loopback_if_local(recorded_address(args.experiment))
    from mnist_hpo.search.tune.extend import extend_search

    return report_outcome(extend_search(args.experiment, args.trials, space=args.space,
                                        data=args.data))


def run_resume(args: argparse.Namespace) -> int:
    loopback_if_local(recorded_address(args.experiment))
    from mnist_hpo.search.tune.driver import resume_search

    print(f"Resuming {args.experiment}", flush=True)
    return report_outcome(resume_search(args.experiment, data=args.data))
