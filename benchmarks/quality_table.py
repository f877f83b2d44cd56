"""The search-quality benchmark's table and figure, from its runs (plain dicts): per system,
the mean and spread over seeds, how soon mnist-hpo's mean best-so-far curve reaches each
system's final best, and its winners against the seed network alone, seed by seed."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

SYSTEMS = {
    "mnist-hpo": "seed, its twin, prior + TPE, promotion ASHA, end planned (default)",
    "mnist-hpo-cold": "mnist-hpo --no-warm-start: TPE (10 start-up) + the same ASHA, no prior",
    "seed-network": "the tutorial's network alone, every epoch",
    "ray-optuna-asha": "Ray's stock OptunaSearch (Optuna's default TPE) + ASHA",
    "keras-tuner": "Keras Tuner Hyperband",
    "optuna": "plain Optuna TPE + HyperbandPruner",
    "one-epoch": "every configuration 1 epoch, then the 2 best trained on",
    "mnist-hpo-asha": "mnist-hpo, --scheduler asha --reduction-factor 2 (the former default)",
    "mnist-hpo-cold-asha": "--no-warm-start, --scheduler asha --reduction-factor 2",
    "mnist-hpo-unplanned": "mnist-hpo, promotion ASHA η=3 not told the budget (former)",
    "mnist-hpo-cold-unplanned": "--no-warm-start, promotion ASHA η=3 not told the budget",
    "mnist-hpo-blind": "mnist-hpo, sampler blind to trials waiting at a rung (former)",
    "mnist-hpo-cold-blind": "--no-warm-start, sampler blind to trials waiting at a rung",
    "mnist-hpo-cold-startup5": "--no-warm-start, the waiting trials seen, TPE's start-up 5",
}
#: Former defaults (Ray's stopping ASHA, η = 2; promotion ASHA without the planned end):
#: run when ``--systems`` names them.
FORMER = ("mnist-hpo-asha", "mnist-hpo-cold-asha", "mnist-hpo-unplanned",
          "mnist-hpo-cold-unplanned", "mnist-hpo-blind", "mnist-hpo-cold-blind",
          "mnist-hpo-cold-startup5")
OURS = ("mnist-hpo", "mnist-hpo-cold")
#: mnist-hpo's mean curve should reach each peer's final mean best within this share.
REACH_GOAL = 1 / 3


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


def summarize(runs: list[dict[str, Any]], args: argparse.Namespace,
              cpu: str) -> dict[str, Any]:
    """Print and return the table: per system, mean and spread over seeds, how soon
    mnist-hpo (with and without the warm start) reaches that system's final best, and how
    its winners compare with the seed network alone, seed by seed."""
    by_system = {s: [r for r in runs if r["system"] == s] for s in args.systems}
    by_system = {s: rs for s, rs in by_system.items() if rs}
    ours = {name: mean_curve([best_so_far(r["curve"]) for r in by_system[name]])
            for name in OURS if by_system.get(name)}
    seeds = sorted({r["seed"] for r in runs})
    print(f"\nSearch quality at equal budget: {args.budget} trial-epochs, up to {args.epochs} "
          f"epochs per trial, {args.subset:,} training / {args.validation:,} validation images, "
          f"test on {args.test:,}; seeds {seeds}; {cpu}")
    width = max(len("system"), *map(len, by_system))
    print(f"{'system':<{width}} {'seeds':>5} {'best val (mean ± sd)':>21} {'test of winner':>16} "
          f"{'trials':>7} {'wall s':>7} {'mnist-hpo reaches it':>21} {'cold reaches it':>16}")
    table: dict[str, Any] = {}
    for system, rs in by_system.items():
        val = [r["best_val_accuracy"] for r in rs]
        test = [r["test_accuracy"] for r in rs]
        target = statistics.mean(best_so_far(r["curve"])[-1] for r in rs)
        reach = {name: epochs_to_reach(curve, target) for name, curve in ours.items()}
        row = {"seeds": len(rs), "best_val_mean": statistics.mean(val), "best_val_sd": _sd(val),
               "test_mean": statistics.mean(test), "test_sd": _sd(test),
               "trials_mean": statistics.mean(r["trials"] for r in rs),
               "wall_s_mean": statistics.mean(r["wall_s"] for r in rs),
               "epochs_to_reach": reach,
               "reach_goal_met": {name: r is not None and r <= args.budget * REACH_GOAL
                                  for name, r in reach.items()}}
        table[system] = row
        cells = [f"{reach[n]} ({reach[n] / args.budget:.0%})" if reach.get(n)
                 else "not reached" if n in reach else "n/a" for n in OURS]
        print(f"{system:<{width}} {len(rs):>5} {row['best_val_mean']:>13.4f} ± "
              f"{row['best_val_sd']:.4f} {row['test_mean']:>9.4f} ± {row['test_sd']:.4f} "
              f"{row['trials_mean']:>7.1f} {row['wall_s_mean']:>7.0f} {cells[0]:>21} "
              f"{cells[1]:>16}")
    print(f"Last columns: trial-epochs after which mnist-hpo's mean best-so-far curve (default; "
          f"cold: --no-warm-start) reaches the system's mean final best; goal: within "
          f"{REACH_GOAL:.0%} of the budget.")
    for name in OURS:
        versus = against_seed_network(by_system.get(name, []), by_system.get("seed-network", []))
        if versus:
            table[name]["versus_seed_network"] = versus
            print(f"{name} against the seed network alone, test accuracy: better in "
                  f"{versus['wins']} of {versus['seeds']} seeds, mean difference "
                  f"{versus['mean_points']:+.2f} points")
    return table


def against_seed_network(ours: list[dict[str, Any]], seed_runs: list[dict[str, Any]]
                         ) -> dict[str, Any] | None:
    """Seed by seed, the test accuracy of a search's winner minus the seed network's."""
    bar = {r["seed"]: r["test_accuracy"] for r in seed_runs}
    diffs = [r["test_accuracy"] - bar[r["seed"]] for r in ours if r["seed"] in bar]
    if not diffs:
        return None
    return {"seeds": len(diffs), "wins": sum(d > 0 for d in diffs),
            "mean_points": 100 * statistics.mean(diffs),
            "points_by_seed": [100 * d for d in diffs]}


def plot(runs: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6.5))
    for system in args.systems:
        curves = [best_so_far(r["curve"]) for r in runs if r["system"] == system]
        if not curves:
            continue
        if system == "seed-network":  # the bar: its final best, across the whole budget
            bar = statistics.mean(c[-1] for c in curves)
            ax.axhline(bar, color="black", linestyle="--", linewidth=1.2,
                       label=f"{system} ({_seeds(len(curves))}): {SYSTEMS[system]} "
                             "(final best, mean)")
            continue
        x = range(1, min(map(len, curves)) + 1)
        mean = mean_curve(curves)
        low = [min(c[i - 1] for c in curves) for i in x]
        high = [max(c[i - 1] for c in curves) for i in x]
        line = ax.plot(x, mean, label=f"{system} ({_seeds(len(curves))}): {SYSTEMS[system]}",
                       linewidth=2.5 if system == "mnist-hpo" else 1.5,
                       # Former systems dotted: past ten lines matplotlib's colours repeat.
                       linestyle=":" if system in FORMER else "-")[0]
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.06)
    finals = [best_so_far(r["curve"])[-1] for r in runs]
    ax.set_ylim(min(finals) - 0.03, max(finals) + 0.005)
    ax.set_xlabel("trial-epochs spent (all trials together)")
    ax.set_ylabel("best validation accuracy so far")
    # Systems may have different numbers of seeds while the benchmark is running: each
    # label says how many its mean is over.
    ax.set_title("Search quality at equal budget (mean over seeds, band = min–max)")
    ax.grid(alpha=0.3)
    # One column below the axes: the labels are long, and two columns ran off the figure.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(out / f"search_quality.{ext}", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _sd(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")
