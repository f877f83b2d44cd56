"""Search quality at equal budget: mnist-hpo against what a user would run instead.

Seven systems search the same space on the same data split (one split per seed, shared by
all) with the same budget in trial-epochs (every epoch of every trial counts):

  mnist-hpo        the default: the seed network first, then TPE + ASHA, early-stopped
                   trials told to Optuna as pruned
  mnist-hpo-cold   the same without the seed network first (--no-warm-start)
  ray-optuna-asha  mnist-hpo-cold without honest early stopping: Ray's stock OptunaSearch
                   + ASHA
  ray-random-asha  random search + ASHA in Ray Tune
  ray-random       random search in Ray Tune, every trial trained to the last epoch
  keras-tuner      Keras Tuner Hyperband
  optuna           plain Optuna TPE with its HyperbandPruner, no Ray

Every system trains the same networks the same way (see ``benchmarks/peers.py``). Only
mnist-hpo evaluates the seed network first, as it does by default; mnist-hpo-cold shows what
its search does without that head start, against the peers' samplers on equal terms. For
each run the script records the best validation accuracy against trial-epochs spent, then
retrains the winning configuration once from scratch (same split, seed and epochs) and
evaluates it on the MNIST test set. It prints a table, writes ``search_quality.json`` and
the figure ``search_quality.png``/``.svg`` to ``--out``.

    python benchmarks/search_quality.py --data ../shared/data/mnist.npz            # ~1 h
    python benchmarks/search_quality.py --data ../shared/data/mnist.npz --quick    # ~1.5 min
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine
from mnist_hpo.search.training.runtime import quiet_tensorflow, set_threads

if TYPE_CHECKING:
    from mnist_hpo.spaces import Space

SYSTEMS = {
    "mnist-hpo": "seed first, TPE + ASHA, honest early stopping (default)",
    "mnist-hpo-cold": "mnist-hpo without the seed first",
    "ray-optuna-asha": "Ray's stock OptunaSearch (TPE) + ASHA",
    "ray-random-asha": "random search + ASHA (Ray Tune)",
    "ray-random": "random search, no early stopping (Ray Tune)",
    "keras-tuner": "Keras Tuner Hyperband",
    "optuna": "plain Optuna TPE + HyperbandPruner",
}
RAY_VARIANTS: dict[str, dict[str, Any]] = {
    "mnist-hpo": {"warm_start": True},
    "mnist-hpo-cold": {},
    "ray-optuna-asha": {"honest_early_stopping": False},
    "ray-random-asha": {"sampler": "random"},
    "ray-random": {"sampler": "random", "scheduler": "fifo"},
}
FULL = {"subset": 4000, "validation": 3000, "epochs": 4, "budget": 30, "seeds": 3, "test": 10000}
QUICK = {"subset": 400, "validation": 400, "epochs": 2, "budget": 6, "seeds": 1, "test": 1000}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--space", default="default", help="preset or YAML space (default: default)")
    p.add_argument("--quick", action="store_true", help="tiny scale, one seed (CI)")
    for key, value in FULL.items():
        p.add_argument(f"--{key}", type=int, help=f"(full: {value}, quick: {QUICK[key]})")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset")
    p.add_argument("--out", default="benchmarks/results", help="folder for JSON and figure")
    p.add_argument("--replot", metavar="JSON", help="table and figure again from a "
                   "search_quality.json, without searching")
    args = p.parse_args()
    if args.replot:
        return args
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.systems = [s for s in args.systems.split(",") if s]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        p.error(f"--systems: unknown {', '.join(sorted(unknown))}; choose from "
                f"{', '.join(SYSTEMS)}")
    return args


def run_ray_system(system: str, space: Space, args: argparse.Namespace, seed: int,
                   storage: str) -> Any:
    """One search through mnist-hpo's own driver (Ray Tune), stopped by ``--epoch-budget``."""
    from ray import tune

    from benchmarks.peers import Ledger
    from mnist_hpo.search.tune.driver import run_search
    from mnist_hpo.search.tune.settings import SearchSettings

    ledger = Ledger(args.budget)

    class Record(tune.Callback):
        def on_trial_result(self, iteration: int, trials: list[Any], trial: Any,
                            result: dict[str, Any], **info: Any) -> None:
            # Ray hands a trial's last result over again when the trial ends.
            ledger.record(trial.trial_id, float(result["val_accuracy"]), dict(trial.config),
                          epoch=int(result["training_iteration"]))

    settings = SearchSettings(
        space=space, name=f"{system}-{seed}", storage=storage,
        trials=100_000, epochs=args.epochs, epoch_budget=args.budget, seed=seed,
        data=args.data, subset=args.subset, validation=args.validation,
        **({"warm_start": False} | RAY_VARIANTS[system]))
    run_search(settings, command=["benchmark"], callbacks=[Record()], quiet=True)
    return ledger


def best_so_far(curve: list[float]) -> list[float]:
    out, best = [], float("-inf")
    for v in curve:
        best = max(best, v)
        out.append(best)
    return out


def epochs_to_reach(curve: list[float], target: float) -> int | None:
    """Trial-epochs after which ``curve``'s best first reaches ``target`` (None: never)."""
    return next((i + 1 for i, v in enumerate(best_so_far(curve)) if v >= target - 1e-12),
                None)


def mean_curve(curves: list[list[float]]) -> list[float]:
    return [statistics.mean(c[i] for c in curves) for i in range(min(map(len, curves)))]


def main() -> None:
    args = parse_args()
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        args = argparse.Namespace(**(saved["args"] | {"out": args.out}))
        finish(saved["runs"], args, saved["machine"])
        return
    quiet_tensorflow()
    set_threads(os.cpu_count())  # in-process peers and retraining use every core

    import optuna
    import ray

    from benchmarks.peers import run_keras_tuner, run_optuna
    from mnist_hpo.search.cli.search import loopback_if_local
    from mnist_hpo.search.training.data import load_mnist, split_mnist
    from mnist_hpo.search.training.fit import evaluate, train
    from mnist_hpo.search.tune.driver import start_ray
    from mnist_hpo.search.tune.settings import SearchSettings
    from mnist_hpo.spaces import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: new models
    space = load_space(args.space)
    mnist = load_mnist(args.data)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-quality-") as tmp:
        loopback_if_local(None)
        start_ray(SearchSettings(space=space, name="bench"))  # once for every Ray search
        try:
            for seed in range(args.seeds):
                split = split_mnist(mnist, validation=args.validation, subset=args.subset,
                                    seed=seed)
                for system in args.systems:
                    if system in RAY_VARIANTS:
                        ledger = run_ray_system(system, space, args, seed, tmp)
                    elif system == "keras-tuner":
                        ledger = run_keras_tuner(space, split, epochs=args.epochs,
                                                 budget=args.budget, seed=seed,
                                                 workdir=Path(tmp) / "kt")
                    else:
                        ledger = run_optuna(space, split, epochs=args.epochs,
                                            budget=args.budget, seed=seed)
                    run = {"system": system, "seed": seed, **ledger.summary()}
                    # The winner, retrained once from scratch, on the test set.
                    model = train(run["best_config"], split, epochs=args.epochs,
                                  seed=seed).model
                    run["test_accuracy"] = evaluate(model, split.x_test[:args.test],
                                                    split.y_test[:args.test])["accuracy"]
                    runs.append(run)
                    print(f"seed {seed} {system:<16} best val {run['best_val_accuracy']:.4f} "
                          f"test {run['test_accuracy']:.4f} trials {run['trials']:>3} "
                          f"epochs {len(run['curve'])} wall {run['wall_s']:.0f} s", flush=True)
        finally:
            ray.shutdown()

    finish(runs, args, machine("keras-tuner"))


def finish(runs: list[dict[str, Any]], args: argparse.Namespace,
           machine_info: dict[str, Any]) -> None:
    """Print the table, write the JSON and the figure."""
    summary = summarize(runs, args, f"{machine_info['cpus']} × {machine_info['cpu']}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_quality.json").write_text(json.dumps(
        {"args": vars(args), "machine": machine_info,
         "summary": summary, "runs": runs}, indent=2, default=str) + "\n")
    plot(runs, args, out)
    print(f"wrote {out / 'search_quality.json'} and {out / 'search_quality.png'}")


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace,
              cpu: str) -> dict[str, Any]:
    """Print and return the table: per system, mean and spread over seeds, and how soon
    mnist-hpo (with and without the seed first) reaches that system's final best."""
    by_system = {s: [r for r in runs if r["system"] == s] for s in args.systems}
    ours = {name: mean_curve([best_so_far(r["curve"]) for r in by_system[name]])
            for name in ("mnist-hpo", "mnist-hpo-cold") if by_system.get(name)}
    print(f"\nSearch quality at equal budget: {args.budget} trial-epochs, up to {args.epochs} "
          f"epochs per trial, {args.subset:,} training / {args.validation:,} validation images, "
          f"test on {args.test:,}; {args.seeds} seed(s); {cpu}")
    print(f"{'system':<16} {'best val (mean ± sd)':>21} {'test of winner':>16} {'trials':>7} "
          f"{'wall s':>7} {'mnist-hpo reaches it':>21} {'cold reaches it':>16}")
    table: dict[str, Any] = {}
    for system, rs in by_system.items():
        val = [r["best_val_accuracy"] for r in rs]
        test = [r["test_accuracy"] for r in rs]
        target = statistics.mean(best_so_far(r["curve"])[-1] for r in rs)
        reach = {name: epochs_to_reach(curve, target) for name, curve in ours.items()}
        row = {"best_val_mean": statistics.mean(val), "best_val_sd": _sd(val),
               "test_mean": statistics.mean(test), "test_sd": _sd(test),
               "trials_mean": statistics.mean(r["trials"] for r in rs),
               "wall_s_mean": statistics.mean(r["wall_s"] for r in rs),
               "epochs_to_reach": reach,
               "half_budget_goal_met": {name: r is not None and r <= args.budget / 2
                                        for name, r in reach.items()}}
        table[system] = row
        cells = [f"{reach[n]} ({reach[n] / args.budget:.0%})" if reach.get(n)
                 else "not reached" if n in reach else "n/a"
                 for n in ("mnist-hpo", "mnist-hpo-cold")]
        print(f"{system:<16} {row['best_val_mean']:>13.4f} ± {row['best_val_sd']:.4f} "
              f"{row['test_mean']:>9.4f} ± {row['test_sd']:.4f} {row['trials_mean']:>7.1f} "
              f"{row['wall_s_mean']:>7.0f} {cells[0]:>21} {cells[1]:>16}")
    print("Last columns: trial-epochs after which mnist-hpo's mean best-so-far curve (default; "
          "cold: without the seed first) reaches the system's mean final best; goal: at most "
          "half the budget.")
    return table


def plot(runs: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6.5))
    for system in args.systems:
        curves = [best_so_far(r["curve"]) for r in runs if r["system"] == system]
        x = range(1, min(map(len, curves)) + 1)
        mean = mean_curve(curves)
        low = [min(c[i - 1] for c in curves) for i in x]
        high = [max(c[i - 1] for c in curves) for i in x]
        line = ax.plot(x, mean, label=f"{system}: {SYSTEMS[system]}",
                       linewidth=2.5 if system == "mnist-hpo" else 1.5)[0]
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.06)
    finals = [best_so_far(r["curve"])[-1] for r in runs]
    ax.set_ylim(min(finals) - 0.03, max(finals) + 0.005)
    ax.set_xlabel("trial-epochs spent (all trials together)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(f"Search quality at equal budget ({args.seeds} seed(s): mean, band = min–max)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(out / f"search_quality.{ext}", dpi=120)
    plt.close(fig)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


if __name__ == "__main__":
    main()
