"""Trial records read back after a driver was killed while Ray copied them: Ray rewrites
every trial's files in the experiment folder at each experiment checkpoint, and SIGKILL
in the middle leaves some of them empty (seen: params.json and progress.csv of finished
trials at 0 bytes, result.json whole)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from test_reports import write_experiment

from mnist_hpo.reports import TrialState, load_experiment


def write_results(folder: Path) -> None:
    """result.json as Ray writes it beside progress.csv: a JSON report per line, with the
    configuration."""
    config = json.loads((folder / "params.json").read_text())
    with (folder / "progress.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    lines = []
    for row in rows:
        report: dict[str, object] = {k: float(v) for k, v in row.items()
                                     if k not in ("done", "trial_id", "node_ip")}
        report |= {"done": row["done"] == "True", "trial_id": row["trial_id"],
                   "node_ip": row["node_ip"], "config": config}
        lines.append(json.dumps(report))
    (folder / "result.json").write_text("\n".join(lines) + "\n")


def test_a_trial_whose_progress_and_params_were_emptied_is_read_from_result_json(
        tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    folder = root / "trial_0003"
    write_results(folder)
    (folder / "progress.csv").write_text("")
    (folder / "params.json").write_text("")
    exp = load_experiment(root)
    assert exp.skipped == []
    t3 = next(t for t in exp.trials if t.number == 3)
    assert t3.state is TrialState.COMPLETED and t3.params["dense_units"] == 128
    assert (t3.best_val_accuracy, t3.last_val_accuracy, t3.epochs_run) == (0.98, 0.96, 3)
    assert t3.wall_time_s == 6.0 and t3.node == "10.0.0.7"
    assert exp.best().number == 3


def test_a_resumed_trial_whose_progress_restarted_empty_keeps_its_first_epochs(
        tmp_path: Path) -> None:
    # Resumed from the emptied copy, Ray appended the epochs after the resume to it.
    root = write_experiment(tmp_path / "e")
    folder = root / "trial_0001"
    write_results(folder)
    with (folder / "progress.csv").open(newline="") as f:
        header, *rows = list(csv.reader(f))
    with (folder / "progress.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, rows[-1]])
    t1 = load_experiment(root).trials[0]
    assert [e["epoch"] for e in t1.epochs] == [1, 2, 3]
    assert t1.best_val_accuracy == 0.97 and t1.state is TrialState.COMPLETED


def test_a_result_json_cut_short_leaves_progress_csv_in_charge(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    folder = root / "trial_0003"
    write_results(folder)
    text = (folder / "result.json").read_text()
    (folder / "result.json").write_text(text[:len(text) // 2])  # a line cut in two
    t3 = next(t for t in load_experiment(root).trials if t.number == 3)
    assert [e["epoch"] for e in t3.epochs] == [1, 2, 3] and t3.best_val_accuracy == 0.98


def test_params_json_emptied_without_reports_is_still_skipped_by_name(tmp_path: Path) -> None:
    root = write_experiment(tmp_path / "e")
    (root / "trial_0003" / "params.json").write_text("")
    exp = load_experiment(root)
    assert [t.number for t in exp.trials] == [1, 2, 4]
    assert exp.skipped == ["trial_0003: corrupt params.json (Expecting value)"]
