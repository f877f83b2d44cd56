"""One trial folder's files as Ray Tune writes them: ``progress.csv`` (a row per reported
epoch) and ``error.txt``. ``records`` builds trial records from these; the promotion-type
scheduler reads a restored trial's epochs with :func:`read_epochs`.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

EPOCH_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "seconds", "images_per_second")


def read_epochs(folder: Path) -> list[dict[str, float]]:
    """A trial folder's epochs in order, ``{"epoch": 1, "val_accuracy": ...}`` each: what
    :attr:`TrialRecord.epochs` holds, for code that needs no more of the record."""
    return epochs_of(read_progress(folder / "progress.csv"))


def epochs_of(rows: list[dict[str, str]]) -> list[dict[str, float]]:
    """``progress.csv`` rows → one dict of numbers per epoch, in epoch order."""
    # A trial retried or resumed from an earlier checkpoint reports some epochs again; the
    # later report of an epoch is the one its model continued from.
    by_epoch = {r.get("epoch"): {k: number(r.get(k)) for k in ("epoch", *EPOCH_KEYS)}
                for r in rows}
    return sorted(by_epoch.values(), key=lambda e: e["epoch"])


def last_error(text: str) -> str:
    """The exception line of the last failure in Ray's error.txt."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # "mnist_hpo.search.training.divergence.DivergedError: ..." reads better as
    # "DivergedError: ...".
    return re.sub(r"^(?:\w+\.)+(?=\w+: )", "", lines[-1]) if lines else "unknown error"


def read_progress(path: Path) -> list[dict[str, str]]:
    """The whole rows of a ``progress.csv`` (none if it does not exist yet).

    Raises:
        ValueError: a row before the last has no val_accuracy.
    """
    if not path.exists():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, start=1):
        if row.get("val_accuracy") in (None, ""):
            # A row Ray is still writing has empty trailing fields; earlier rows must be whole.
            if i < len(rows):
                raise ValueError(f"corrupt progress.csv (row {i} has no val_accuracy)")
            return rows[:-1]
    return rows


def number(text: Any) -> float:
    """A CSV field as a float; NaN if empty or not a number."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan
