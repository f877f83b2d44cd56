"""One trial folder's files as Ray Tune writes them: ``progress.csv`` and ``result.json``
(a row per reported epoch, the latter with the configuration), ``params.json`` and
``error.txt``. :mod:`.records` builds trial records from these; the scheduler
(``search/tune/scheduler.py``) reads a restored trial's epochs with :func:`read_epochs`.

Ray writes these files in a staging folder and copies them into the experiment folder at
each experiment checkpoint, rewriting each file. A driver killed during that copy leaves
some files empty or cut short, and a resumed search goes on from those copies; the
others hold the same rows. So the rows are read from whichever of ``progress.csv`` and
``result.json`` holds more reports, and the configuration from ``params.json`` or else
from ``result.json``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

from mnist_hpo.search.experiment.names import EPOCH_KEYS, PARAMS, PROGRESS, RESULT, SIGNATURE_KEY


def read_epochs(folder: Path) -> list[dict[str, float]]:
    """A trial folder's epochs in order, ``{"epoch": 1, "val_accuracy": ...}`` each: what
    :attr:`TrialRecord.epochs` holds, for code that needs no more of the record."""
    return epochs_of(read_rows(folder))


def read_rungs(folder: Path, metric: str) -> tuple[dict[int, float], str | None]:
    """A trial's ``metric`` by epoch (``progress.csv``) and its first-rung signature
    (``result.json``), as a resumed search's scheduler reads them back.

    Raises:
        OSError, ValueError: the records cannot be read.
    """
    epochs = {int(e["epoch"]): float(e.get(metric, math.nan)) for e in read_epochs(folder)}
    signature = next((r[SIGNATURE_KEY] for r in read_results(folder / RESULT)
                      if isinstance(r.get(SIGNATURE_KEY), str)), None)
    return epochs, signature


def read_rows(folder: Path) -> list[dict[str, str]]:
    """The trial's reports, as ``progress.csv`` rows: from ``progress.csv``, or from
    ``result.json`` when it holds more (see the module's docstring).

    Raises:
        ValueError: a report before the last has no val_accuracy.
    """
    from_csv = read_progress(folder / PROGRESS)
    from_json = [_as_row(r) for r in read_results(folder / RESULT)]
    return from_json if len(from_json) > len(from_csv) else from_csv


def read_params(folder: Path) -> dict[str, Any]:
    """The trial's configuration: ``params.json``, or the one its reports in
    ``result.json`` carry (none if the trial never started).

    Raises:
        ValueError: ``params.json`` is corrupt and no report carries the configuration.
    """
    params_file = folder / PARAMS
    if not params_file.exists():
        return {}  # a trial that failed before it started has an error.txt only
    try:
        params: dict[str, Any] = json.loads(params_file.read_text())
        return params
    except json.JSONDecodeError as err:
        for report in read_results(folder / RESULT):
            if isinstance(report.get("config"), dict):
                return dict(report["config"])
        raise ValueError(f"corrupt params.json ({err.msg})") from None


def read_results(path: Path) -> list[dict[str, Any]]:
    """The reports in a ``result.json`` (a JSON object per line) that carry val_accuracy;
    a last line cut short is left out."""
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    reports = []
    for i, line in enumerate(lines, start=1):
        try:
            report = json.loads(line)
        except json.JSONDecodeError:
            if i < len(lines):
                raise ValueError(f"corrupt result.json (line {i})") from None
            break
        if isinstance(report, dict) and report.get("val_accuracy") is not None:
            reports.append(report)
    return reports


def _as_row(report: dict[str, Any]) -> dict[str, str]:
    """A ``result.json`` report as the ``progress.csv`` row Ray writes for it."""
    return {k: "" if v is None else str(v) for k, v in report.items()
            if not isinstance(v, dict)}


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
