"""How far any choice of members could take an experiment's ensemble: the selection's
ceiling, measured on finished searches (issue 33).

For each experiment, the ``--top`` trials by val_accuracy are loaded at their best epoch
(the checkpoint ``export`` would take) and scored on the search's validation images and on
the test set. Then every equal-weight ensemble of 1 to ``--members`` of them is scored:

- **by validation**: the most accurate subset on the validation images (fewer members on a
  tie), what a selection rule could at best pick, and its test accuracy;
- **ceiling**: the subset with the highest *test* accuracy. It is chosen on the test set,
  so no rule can ship it: it bounds what the trials a search finished can give, whatever
  the selection. When the ceiling is below a target, the gap is in the models trained,
  not in how they are combined;
- what ``export --ensemble auto`` shipped, from ``export-ensemble/metrics.json`` if the
  experiment has one.

    python benchmarks/ensemble_ceiling.py experiments/hour3-s0 experiments/hour3-s1 \\
        --out docs/performance

Resumable: an experiment already in ``OUT/ensemble_ceiling.json`` is not loaded again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.machine import code_version, machine  # noqa: E402

RESULTS = "ensemble_ceiling.json"


def subsets(val: Sequence[np.ndarray], test: Sequence[np.ndarray], y_val: np.ndarray,
            y_test: np.ndarray, max_members: int) -> list[dict[str, Any]]:
    """Every equal-weight ensemble of 1 to ``max_members`` of the candidates (indices into
    ``val``/``test``, each N × 10 probabilities), with its validation and test accuracy."""
    rows = []
    for size in range(1, min(max_members, len(val)) + 1):
        for members in itertools.combinations(range(len(val)), size):
            rows.append({"members": list(members),
                         "val_accuracy": _accuracy([val[i] for i in members], y_val),
                         "test_accuracy": _accuracy([test[i] for i in members], y_test)})
    return rows


def by_validation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The most accurate subset on the validation images; fewer members on a tie."""
    return max(rows, key=lambda r: (r["val_accuracy"], -len(r["members"])))


def ceiling(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The subset with the highest test accuracy (chosen on the test set: a bound, not a
    model a rule could pick); fewer members on a tie."""
    return max(rows, key=lambda r: (r["test_accuracy"], -len(r["members"])))


def _accuracy(probs: list[np.ndarray], labels: np.ndarray) -> float:
    """Equal weights, averaged and scored as an exported ensemble is."""
    from mnist_hpo.reports.ensemble import combine, score

    return score(combine(probs, {i: 1 / len(probs) for i in range(len(probs))}),
                 labels).accuracy


def measure(experiment: Path, top: int, max_members: int) -> dict[str, Any]:
    """Load the experiment's ``top`` trials and score their subsets (see the module)."""
    import keras

    from mnist_hpo.reports.export import choose_trial, recorded_source
    from mnist_hpo.search.experiment import load_experiment
    from mnist_hpo.search.training.data import recorded_split, resolve_source, scale_images
    from mnist_hpo.search.training.runtime import start_tensorflow

    records = load_experiment(experiment)
    start_tensorflow()
    split = recorded_split(records.manifest["data"],
                           recorded_source(records) or resolve_source())
    x_val, x_test = scale_images(split.x_val), scale_images(split.x_test)
    ranked = sorted(records.finished, key=lambda t: (-(t.best_val_accuracy or 0), t.number))
    warm = [t.number for t in records.trials
            if t.params in records.manifest.get("warm_start", [])]
    trials, val, test = [], [], []
    for trial in ranked[:top]:
        _, path = choose_trial(records, trial.number)
        model = keras.models.load_model(path, safe_mode=True, compile=False)
        trials.append(trial.number)
        val.append(model.predict(x_val, batch_size=512, verbose=0))
        test.append(model.predict(x_test, batch_size=512, verbose=0))
    rows = subsets(val, test, split.y_val, split.y_test, max_members)

    def named(row: dict[str, Any]) -> dict[str, Any]:
        return row | {"members": [trials[i] for i in row["members"]]}

    shipped = None
    metrics_file = experiment / "export-ensemble" / "metrics.json"
    if metrics_file.exists():
        metrics = json.loads(metrics_file.read_text())
        shipped = {"members": [m["trial"] for m in metrics["members"]],
                   "val_accuracy": metrics["ensemble"]["val_accuracy"],
                   "test_accuracy": metrics["ensemble"]["test_accuracy"]}
    singles = [named(r) for r in rows if len(r["members"]) == 1]
    return {"trials": trials, "warm_starts": [n for n in trials if n in warm],
            "validation_images": len(split.y_val), "test_images": len(split.y_test),
            "singles": singles, "best_single_by_validation": by_validation(singles),
            "by_validation": named(by_validation(rows)), "ceiling": named(ceiling(rows)),
            "export_ensemble_auto": shipped}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiments", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=6, help="trials loaded, by val_accuracy")
    p.add_argument("--members", type=int, default=4, help="largest subset scored")
    p.add_argument("--out", type=Path, default=Path("docs/performance"),
                   help=f"folder for {RESULTS}")
    args = p.parse_args()
    path = args.out / RESULTS
    saved = json.loads(path.read_text()) if path.exists() else {"cases": {}}
    for experiment in args.experiments:
        name = experiment.name
        if name in saved["cases"]:
            print(f"{name}: done before, skipped", flush=True)
            continue
        case = measure(experiment, args.top, args.members) | {"commit": code_version()}
        saved["cases"][name] = case
        saved["machine"] = machine()
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved, indent=1) + "\n")
        shipped = case["export_ensemble_auto"]
        print(f"{name}: best single by val {case['best_single_by_validation']['test_accuracy']:.4f}"
              f"; best subset by val {case['by_validation']['members']} "
              f"{case['by_validation']['test_accuracy']:.4f}; ceiling "
              f"{case['ceiling']['members']} {case['ceiling']['test_accuracy']:.4f}"
              + ("" if shipped is None else
                 f"; auto shipped {shipped['members']} {shipped['test_accuracy']:.4f}"),
              flush=True)


if __name__ == "__main__":
    main()
