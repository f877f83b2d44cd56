"""The model a time-budgeted search exports on this machine (issue 33): the README's recipe
on the full data, then its three exports, for each seed; resumable, one case per seed.

Each case runs, as a user would (``mnist-hpo`` on the ``PATH``, nothing else running)::

    mnist-hpo search --space default --trials T --epochs E --time-budget M m [--finalists K]
        --seed S --name NAME --data DATA --storage EXPERIMENTS
    mnist-hpo export EXPERIMENTS/NAME                    # the best trial
    mnist-hpo export EXPERIMENTS/NAME --ensemble auto    # the pruned ensemble
    mnist-hpo export EXPERIMENTS/NAME --warm-starts      # the warm starts alone

A search whose folder already says it ended is not run again (a run started by hand with
the same command counts), nor an export whose ``metrics.json`` exists. The case's summary,
read from the experiment folder and the exports' ``metrics.json`` (:func:`summarize`), is
written to ``OUT/budget_search.json`` under its name at once:

- how the search ended: its status, wall time from ``search.json``'s start to its end
  against the budget, trials started;
- the plan: when it turned to the finalists (time left, trial-epochs spent until then:
  the breadth) and the trial-epochs after (the finalists'), each finalist's epochs and
  state, and which the budget cut;
- the exports: test accuracy of the best trial, of the ensemble (each member's trial,
  epoch, weight, val and test accuracy, and whether it is a warm start or a trial the
  search drew) and of the warm starts alone.

    python benchmarks/budget_search.py --data ../shared/data/mnist.npz --seeds 0,1 \\
        --minutes 60 --trials 200 --epochs 6 --finalists 3 --out docs/performance
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import code_version, machine  # noqa: E402

RESULTS = "budget_search.json"
#: Export folder (in the experiment folder) → the ``mnist-hpo export`` flags that write it.
EXPORTS = {"export": [], "export-ensemble": ["--ensemble", "auto"],
           "export-warm-starts": ["--warm-starts"]}


def search_args(args: argparse.Namespace, seed: int, name: str) -> list[str]:
    """The ``mnist-hpo search`` command of one case, as README shows it."""
    return ["search", "--space", args.space, "--trials", str(args.trials),
            "--epochs", str(args.epochs), "--time-budget", f"{args.minutes}m",
            *([] if args.finalists is None else ["--finalists", str(args.finalists)]),
            "--seed", str(seed), "--name", name, "--data", args.data,
            "--storage", args.experiments]


def _run(argv: list[str]) -> float:
    """Run ``mnist-hpo argv`` (its output passed through); its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(["mnist-hpo", *argv], check=True)
    return time.perf_counter() - start


def _ended(experiment: Path) -> bool:
    try:
        manifest = json.loads((experiment / "search.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("status") not in (None, "running")


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def summarize(experiment: Path) -> dict[str, Any]:
    """What a time-budgeted search and its exports came to, from the experiment folder.

    The exports are read where they are (``export``, ``export-ensemble``,
    ``export-warm-starts``); a missing one is left out."""
    from mnist_hpo.search.experiment import TrialState, load_experiment
    from mnist_hpo.search.experiment.plan_file import read_plan

    records = load_experiment(experiment)
    manifest = records.manifest
    budget = manifest["budget"]
    warm = [t.number for t in records.trials if t.params in manifest.get("warm_start", [])]
    wall = _seconds(manifest["finished_at"]) - _seconds(manifest["started_at"])
    total = sum(t.epochs_run for t in records.trials)
    summary: dict[str, Any] = {
        "command": manifest.get("command"), "status": manifest["status"],
        "budget_s": budget.get("time_budget_s"), "wall_s": round(wall, 1),
        "end_vs_budget": round(wall / budget["time_budget_s"] - 1, 4)
        if budget.get("time_budget_s") else None,
        "trials_started": len(records.trials), "trial_epochs": total,
        "warm_starts": warm}
    plan = read_plan(experiment)
    if plan is not None:
        turned = next((c for c in plan["changes"] if c["phase"] == "finalists"), None)
        finalists = [f["trial"] for f in plan["finalists"]]
        rows = [{"trial": n, "epochs": records.trial(n).epochs_run,
                 "state": records.trial(n).state.value, "warm_start": n in warm,
                 "picked": f.get("picked"), "can_finish": f.get("can_finish")}
                for n, f in zip(finalists, plan["finalists"], strict=True)]
        summary["plan"] = {
            "phase": plan["phase"],
            "turned": None if turned is None else {
                "after_s": round(_seconds(turned["at"]) - _seconds(manifest["started_at"]), 1),
                "time_left_s": turned["time_left_s"], "epochs_spent": turned["epochs_spent"]},
            "breadth_epochs": None if turned is None else turned["epochs_spent"],
            "finalist_phase_epochs": None if turned is None else total - turned["epochs_spent"],
            "finalists": rows,
            "cut": [r["trial"] for r in rows if r["state"] != TrialState.COMPLETED.value
                    or r["epochs"] < budget["epochs"]]}
    summary["exports"] = {name: _export(experiment / name, warm) for name in EXPORTS
                          if (experiment / name / "metrics.json").exists()}
    return summary


def _export(folder: Path, warm: list[int]) -> dict[str, Any]:
    """One export's figures from its ``metrics.json``."""
    metrics = json.loads((folder / "metrics.json").read_text())
    if "ensemble" not in metrics:  # one trial
        return {key: metrics[key] for key in ("trial", "epoch", "val_accuracy",
                                              "test_accuracy")}
    members = [{key: m[key] for key in ("trial", "epoch", "weight", "val_accuracy",
                                        "test_accuracy")} | {"warm_start": m["trial"] in warm}
               for m in metrics["members"]]
    ensemble = metrics["ensemble"]
    return {"members": members, "val_accuracy": ensemble["val_accuracy"],
            "test_accuracy": ensemble["test_accuracy"],
            "params": ensemble["cost"].get("params"),
            "best_single": {key: metrics["best_single"][key]
                            for key in ("trial", "val_accuracy", "test_accuracy")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="mnist.npz, the full data")
    p.add_argument("--seeds", default="0,1", help="comma-separated (default: 0,1)")
    p.add_argument("--minutes", type=int, default=60, help="--time-budget (default: 60)")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--finalists", type=int,
                   help="--finalists (default: not given, the search's own default)")
    p.add_argument("--space", default="default")
    p.add_argument("--prefix", default="hour", help="names the searches PREFIX-sSEED")
    p.add_argument("--experiments", default="experiments", help="--storage of the searches")
    p.add_argument("--out", default="docs/performance", help="folder for budget_search.json")
    args = p.parse_args()

    out = Path(args.out) / RESULTS
    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("cases", {})
    for seed in (int(s) for s in args.seeds.split(",")):
        name = f"{args.prefix}-s{seed}"
        experiment = Path(args.experiments) / name
        case: dict[str, Any] = results["cases"].get(name, {})
        if not _ended(experiment):
            case["search_process_s"] = round(_run(search_args(args, seed, name)), 1)
        for folder, flags in EXPORTS.items():
            if not (experiment / folder / "metrics.json").exists():
                case[f"{folder}_s"] = round(_run(["export", str(experiment), *flags]), 1)
        case |= {"summary": summarize(experiment), "code": code_version(),
                 "measured": time.strftime("%Y-%m-%d")}
        results["cases"][name] = case
        results["machine"] = machine("ray", "optuna", "tensorflow", "keras")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(json.dumps(case["summary"], indent=1))


if __name__ == "__main__":
    main()
