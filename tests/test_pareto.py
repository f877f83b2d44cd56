"""Accuracy against cost on plain trial records: the front, the seed, the limits, the CLI."""

from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path

import pytest
from conftest import run_cli
from test_reports import write_experiment

from mnist_hpo.reports import ExperimentError, load_experiment
from mnist_hpo.reports.pareto import Point, best_within, front, points, search_cost, seed_trial


def dominated(p: Point, others: list[Point]) -> bool:
    return any(q.val_accuracy >= p.val_accuracy and q.cost <= p.cost and
               (q.val_accuracy > p.val_accuracy or q.cost < p.cost) for q in others)


@pytest.mark.parametrize("seed", range(5))
def test_front_is_exactly_the_non_dominated_points(seed: int) -> None:
    rng = random.Random(seed)
    pts = [Point(i, round(rng.uniform(0.9, 1.0), 2), float(rng.choice([1, 2, 4, 8, 16])))
           for i in range(40)]
    chosen = front(pts)
    by_brute_force = {p.trial for p in pts if not dominated(p, pts)}
    # Exact duplicates (same accuracy and cost) keep one representative.
    assert {(p.val_accuracy, p.cost) for p in chosen} == {
        (p.val_accuracy, p.cost) for p in pts if p.trial in by_brute_force}
    assert [p.cost for p in chosen] == sorted(p.cost for p in chosen)
    assert all(a.val_accuracy < b.val_accuracy for a, b in itertools.pairwise(chosen))


def with_costs(root: Path, costs: dict[int, tuple[int, float]]) -> Path:
    """Add params and batch-1 latency columns to trials written by ``write_experiment``."""
    for number, (params, latency) in costs.items():
        progress = root / f"trial_{number:04d}" / "progress.csv"
        rows = list(csv.reader(progress.open()))
        rows[0] += ["params", "latency_ms_batch_1"]
        for row in rows[1:]:
            row += [str(params), str(latency)]
        with progress.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    return root


@pytest.fixture
def costed(tmp_path: Path) -> Path:
    # Best val_accuracy: trial 1 0.97, trial 2 0.20, trial 3 0.98, trial 4 0.50.
    root = with_costs(write_experiment(tmp_path / "e"), {
        1: (12_000, 0.4), 2: (3_000, 0.2), 3: (400_000, 2.0), 4: (500_000, 3.0)})
    manifest = json.loads((root / "search.json").read_text())
    manifest |= {"warm_start": [{"learning_rate": 0.001, "dense_units": 64}],
                 "objective": {"maximize": "val_accuracy", "minimize": "latency_ms_batch_1"}}
    (root / "search.json").write_text(json.dumps(manifest))
    return root


def test_front_seed_and_limits_on_records(costed: Path) -> None:
    exp = load_experiment(costed)
    assert [p.trial for p in front(points(exp, "params"))] == [2, 1, 3]  # 4 is dominated
    assert seed_trial(exp) == 1 and search_cost(exp.manifest) == "latency"
    assert best_within(exp, {"params": 20_000}).number == 1
    assert best_within(exp, {"params": 1e6, "latency": 2.5}).number == 3
    with pytest.raises(ExperimentError, match=r"--max-params 1000: no trial within it; the "
                       r"smallest is trial 2 with 3,000 parameters \(val_accuracy 0\.2000\)"):
        best_within(exp, {"params": 1000})


def test_leaderboard_pareto_lists_the_front_cheapest_first(costed: Path) -> None:
    proc = run_cli("leaderboard", str(costed), "--pareto", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    # The search minimised latency: 2 (0.2 ms), 1 (0.4 ms), 3 (2.0 ms); ranks as overall.
    assert [(r["trial"], r["rank"]) for r in rows] == [(2, 4), (1, 2), (3, 1)]
    by_params = json.loads(run_cli("leaderboard", str(costed), "--pareto", "params",
                                   "--format", "json").stdout)
    assert [r["trial"] for r in by_params] == [2, 1, 3]


def test_export_under_a_limit_that_nothing_meets_is_one_line(costed: Path) -> None:
    proc = run_cli("export", str(costed), "--max-params", "1000")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "mnist-hpo export: error: --max-params 1000: no trial within it; the smallest is "
        "trial 2 with 3,000 parameters (val_accuracy 0.2000)")
    assert not (costed / "export").exists()
    both = run_cli("export", str(costed), "--max-params", "20000", "--trial", "1")
    assert both.returncode == 2 and "not with --trial or --ensemble" in both.stderr


def test_records_without_costs_are_refused_by_a_limit(tmp_path: Path) -> None:
    proc = run_cli("export", str(write_experiment(tmp_path / "old")), "--max-latency-ms", "1")
    assert proc.returncode == 2
    assert "recorded its ms per image at batch 1" in proc.stderr
