"""The benchmarks' --quick modes: real Ray, TensorFlow, Keras Tuner and Optuna on a tiny
real-MNIST subset. They check that every system ran, spent exactly the budget and wrote
what docs/benchmarks.md's tables are made of; the figures themselves come from full runs.
Each writes into the test's own folder (``--out``), never into the repository."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.search_quality import load_done

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[1]
SYSTEMS = {"mnist-hpo", "mnist-hpo-cold", "seed-network", "ray-optuna-asha", "keras-tuner",
           "optuna", "one-epoch"}


def run_benchmark(script: str, mnist_path: Path, out: Path) -> str:
    proc = subprocess.run([sys.executable, f"benchmarks/{script}", "--quick", "--data",
                           str(mnist_path), "--out", str(out)], cwd=ROOT, capture_output=True,
                          # A guard against a hang, not a speed check: under promotion-type
                          # ASHA trials pause and resume from checkpoints, and this machine
                          # may be shared (350 s seen under load with Ray's ASHA).
                          text=True, timeout=1700, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_search_quality_quick(mnist_path: Path, tmp_path: Path) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    out = run_benchmark("search_quality.py", mnist_path, tmp_path)
    result = json.loads((tmp_path / "search_quality.json").read_text())
    runs = result["runs"]
    assert result["args"]["quick"] is True  # what lets a quick rerun resume it (see below)
    assert {r["system"] for r in runs} == SYSTEMS
    budget, epochs = result["args"]["budget"], result["args"]["epochs"]
    for run in runs:
        # Every system spent exactly the budget: no epoch counted twice, none lost. The
        # seed network alone is trained its epochs once.
        assert len(run["curve"]) == (epochs if run["system"] == "seed-network" else budget), run
        assert run["best_val_accuracy"] == max(run["curve"]) > 0.1  # better than chance
        assert run["best_config"]["batch_size"] > 0 and run["trials"] >= 1
        assert 0.1 < run["test_accuracy"] <= 1.0
        # Which code measured it (the full run spans sessions): this checkout's commit.
        assert run["commit"].removesuffix("-dirty") == head, run["commit"]
    assert set(result["summary"]) == SYSTEMS
    png = (tmp_path / "search_quality.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert "mnist-hpo reaches it" in out and "keras-tuner" in out
    versus = result["summary"]["mnist-hpo"]["versus_seed_network"]
    seed_test = next(r["test_accuracy"] for r in runs if r["system"] == "seed-network")
    ours = next(r["test_accuracy"] for r in runs if r["system"] == "mnist-hpo")
    assert versus["points_by_seed"] == [pytest.approx(100 * (ours - seed_test))]

    # Resumable: a rerun at the same scale and space finds every run done (what main skips);
    # a space whose definition changed since starts afresh.
    saved = argparse.Namespace(**result["args"])
    assert load_done(tmp_path / "search_quality.json", saved) == runs
    # A rerun for one system keeps the others' saved runs (they are written back with it).
    one = argparse.Namespace(**(vars(saved) | {"systems": ["mnist-hpo"]}))
    assert load_done(tmp_path / "search_quality.json", one) == runs
    # Test accuracy is measured with deterministic ops, once per (seed, configuration): a run
    # saved before that is retested on a rerun, and the retrain reproduces the measurement.
    assert all(r["retrain"] == "deterministic" for r in runs)
    path = tmp_path / "search_quality.json"
    keys = [json.dumps(r["best_config"], sort_keys=True) for r in runs]
    for i, key in enumerate(keys):  # a search that picked the seed network ties with it
        assert all(r["test_accuracy"] == runs[i]["test_accuracy"]
                   for j, r in enumerate(runs) if keys[j] == key)
    unique = next(i for i, key in enumerate(keys) if keys.count(key) == 1)  # really retrained
    older = json.loads(path.read_text())
    del older["runs"][unique]["retrain"]
    older["runs"][unique]["test_accuracy"] = 0.5
    path.write_text(json.dumps(older))
    out = run_benchmark("search_quality.py", mnist_path, tmp_path)
    assert "retested: test" in out
    again = json.loads(path.read_text())["runs"][unique]
    assert again["test_accuracy"] == runs[unique]["test_accuracy"]  # the same model again
    assert again["test_accuracy_nondeterministic"] == 0.5 and again["retrain"] == "deterministic"

    edited = saved.space_definition | {"epochs": saved.space_definition["epochs"] + 1}
    assert load_done(tmp_path / "search_quality.json",
                     argparse.Namespace(**(vars(saved) | {"space_definition": edited}))) == []


def test_overview_quick(mnist_path: Path, tmp_path: Path) -> None:
    out = run_benchmark("overview.py", mnist_path, tmp_path)
    result = json.loads((tmp_path / "overview.json").read_text())
    assert result["args"]["quick"] is True  # a quick run's, not a full one's
    rows = {row["measurement"]: row for row in result["rows"]}
    assert len(rows) >= 6, rows
    for row in rows.values():
        assert row["ours"] > 0 and row["peer"] > 0
        assert row["ratio"] == pytest.approx(row["ours"] / row["peer"], rel=1e-6)
    assert result["same_configs"]  # the search and the plain loop trained the same networks
    assert "2 workers vs 1" in out and "reused vs fresh" in out
