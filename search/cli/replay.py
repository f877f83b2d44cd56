"""``mnist-hpo replay``: retrain one trial from its record and compare the curves."""

from __future__ import annotations

import argparse
from typing import Any

from mnist_hpo.search.cli.args import add_experiment_argument, positive_int
from mnist_hpo.search.errors import UsageError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "replay", help="retrain one trial from its recorded configuration and seed",
        description="Retrain a trial with its recorded configuration, seed, data split and "
                    "thread count, planned over the search's epochs (as a learning-rate "
                    "schedule was) and stopped where the trial stopped, and print its "
                    "per-epoch curve beside the recorded one with the largest difference.")
    add_experiment_argument(p, data=True)
    p.add_argument("--trial", type=positive_int, required=True, metavar="N", help="trial number")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mnist_hpo.reports import load_experiment

    experiment = load_experiment(args.experiment)
    trial = experiment.trial(args.trial)
    if not trial.epochs or not trial.params:
        raise UsageError(f"--trial {args.trial}: it recorded no epoch, nothing to replay")
    m = experiment.manifest

    from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads

    prepare_tensorflow()
    set_threads(int(m["resources"]["threads_per_trial"]))
    from mnist_hpo.search.training.data import recorded_split

    split = recorded_split(m["data"], args.data)
    # A trial ASHA stopped at epoch 2 of 9 trained with a schedule planned over 9 epochs:
    # replaying 2 epochs would decay it over 2, and differ for a reason not the trial's.
    planned, ran = experiment.max_epochs, int(trial.epochs[-1]["epoch"])
    print(f"Replaying trial {trial.number} ({trial.status_text}): {ran} of {planned} planned "
          f"epochs, seed {m['seed']}, {m['resources']['threads_per_trial']} thread(s)")

    from mnist_hpo.search.training.fit import train

    result = train(trial.params, split, epochs=planned, stop_after=ran, seed=m["seed"])
    print(f"{'epoch':>5}  {'recorded val_acc':>16}  {'replayed val_acc':>16}  {'difference':>10}"
          f"  {'recorded loss':>13}  {'replayed loss':>13}")
    worst = 0.0
    for old, new in zip(trial.epochs, result.history, strict=False):
        diff = new["val_accuracy"] - old["val_accuracy"]
        worst = max(worst, abs(diff))
        print(f"{int(old['epoch']):>5}  {old['val_accuracy']:>16.4f}  "
              f"{new['val_accuracy']:>16.4f}  {diff:>+10.4f}  {old['loss']:>13.4f}  "
              f"{new['loss']:>13.4f}")
    print(f"Largest val_accuracy difference: {worst:.4f} "
          f"({worst * len(split.x_val):.0f} of {len(split.x_val):,} validation images)")
    if trial.resumed_after:
        # Fit reseeds a resumed trial by epoch: from there on the replay, trained in one
        # go, draws other shuffles, augmentations and dropout masks than the trial did.
        first = trial.resumed_after[0]
        same = [abs(new["val_accuracy"] - old["val_accuracy"])
                for old, new in zip(trial.epochs[:first], result.history, strict=False)]
        after = trial.resumed_after
        print(f"The trial went on from a checkpoint after epoch{'s' * (len(after) > 1)} "
              f"{', '.join(map(str, after))} (paused at a rung, retried or "
              f"resumed), with its random streams reseeded: the curves can match up to "
              f"epoch {first} only, where the largest difference is "
              f"{max(same, default=0.0):.4f}")
    return 0
