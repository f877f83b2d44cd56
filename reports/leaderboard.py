"""The trial leaderboard: one row per trial, ranked, as a table, CSV, JSON or Markdown."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from mnist_hpo.search.experiment import Experiment, ExperimentError, TrialRecord

FORMATS = ("table", "csv", "json", "markdown")

#: Sort keys: column → (value of a trial, descending?). Parameters sort ascending.
SORTS: dict[str, tuple[Callable[[TrialRecord], Any], bool]] = {
    "val_accuracy": (lambda t: t.best_val_accuracy, True),
    "last_val_accuracy": (lambda t: t.last_val_accuracy, True),
    "val_loss": (lambda t: (t.best_epoch or {}).get("val_loss"), False),
    "epochs": (lambda t: t.epochs_run, True),
    "wall_time_s": (lambda t: t.wall_time_s, False),
    "trial": (lambda t: t.number, False),
    "params": (lambda t: t.cost.get("params"), False),
    "file_mb": (lambda t: t.cost.get("file_bytes"), False),
    "ms_per_image_b1": (lambda t: t.cost.get("latency_ms_batch_1"), False),
    "ms_per_image_b256": (lambda t: t.cost.get("latency_ms_batch_256"), False),
}


def leaderboard_rows(experiment: Experiment, sort: str = "val_accuracy",
                     top: int | None = None) -> list[dict[str, Any]]:
    """Ranked rows: rank, trial, state, best and last val_accuracy, val_loss (best epoch),
    epochs, wall time, node, what the model costs (parameters, file size, ms per image at
    batch 1 and 256; ``None`` for trials recorded without), then the searched
    hyperparameters.

    Trials without a value for the sort key come last, in trial order.

    Raises:
        ExperimentError: ``sort`` is neither a column nor a parameter.
    """
    searched = list(experiment.manifest.get("searched") or _all_params(experiment.trials))
    if sort in SORTS:
        key, descending = SORTS[sort]
    elif sort in searched:
        key, descending = (lambda t: t.params.get(sort)), False
    else:
        raise ExperimentError(f"--sort {sort!r}: not a column ({', '.join(SORTS)}) nor a "
                              f"searched parameter ({', '.join(searched)})")
    present = [t for t in experiment.trials if _has(key(t))]
    missing = [t for t in experiment.trials if not _has(key(t))]
    present.sort(key=lambda t: (key(t), -t.number if descending else t.number),
                 reverse=descending)
    ranked = (present + missing)[:top] if top else present + missing
    return [_row(rank, t, searched) for rank, t in enumerate(ranked, start=1)]


def _row(rank: int, t: TrialRecord, searched: Sequence[str]) -> dict[str, Any]:
    best = t.best_epoch or {}
    return {
        "rank": rank, "trial": t.number, "state": t.status_text,
        "val_accuracy": t.best_val_accuracy, "last_val_accuracy": t.last_val_accuracy,
        "val_loss": best.get("val_loss"), "epochs": t.epochs_run,
        "wall_time_s": round(t.wall_time_s, 1),
        "node": f"{t.node}/{t.node_id[:6]}" if t.node_id else t.node,
        "params": None if "params" not in t.cost else int(t.cost["params"]),
        "file_mb": None if "file_bytes" not in t.cost else round(t.cost["file_bytes"] / 1e6, 3),
        "ms_per_image_b1": t.cost.get("latency_ms_batch_1"),
        "ms_per_image_b256": t.cost.get("latency_ms_batch_256"),
        **{p: t.params.get(p) for p in searched},
    }


def render(rows: list[dict[str, Any]], fmt: str) -> str:
    """Rows as ``table`` (aligned text), ``csv``, ``json`` or ``markdown``."""
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if not rows:
        return "(no trials yet)"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    cells = [[_cell(c, r.get(c)) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(column: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        # Metrics to 4 decimals; hyperparameters (1e-4 learning rates...) to 4 digits.
        return f"{value:.4f}" if column.startswith(("val_", "last_val")) else f"{value:.4g}"
    return str(value)


def _has(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _all_params(trials: list[TrialRecord]) -> list[str]:
    return list(dict.fromkeys(k for t in trials for k in t.params))
