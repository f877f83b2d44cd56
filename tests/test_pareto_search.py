"""A real Pareto search (``--objective accuracy,params``) on real MNIST: the costs each trial
records, the front the leaderboard lists, what the Optuna study was told, and an export under
a parameter limit, each checked against an independent source."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import optuna
import pytest
from conftest import REPO, run_cli
from optuna.trial import TrialState

from mnist_hpo.search.training.model import build_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pareto_run(mnist_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 trials x 2 epochs on 2,000 real images, four network sizes, half unable to learn."""
    storage = tmp_path_factory.mktemp("experiments")
    proc = run_cli("search", "--space", str(REPO / "tests/data/pareto_space.yaml"),
                   "--objective", "accuracy,params", "--trials", "6", "--epochs", "2",
                   "--subset", "2000", "--validation", "1000", "--cpus-per-trial", "1",
                   "--seed", "0", "--data", str(mnist_path), "--storage", str(storage),
                   "--name", "pareto")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Pareto search: val_accuracy up, params down" in proc.stdout
    return storage / "pareto"


def epochs(trial: Path) -> list[dict[str, str]]:
    with (trial / "progress.csv").open() as f:
        return list(csv.DictReader(f))


def measured(experiment: Path) -> dict[int, tuple[float, int, int]]:
    """Trial number -> (best val_accuracy, params, epochs) read from Ray's progress.csv."""
    out = {}
    for trial in sorted(experiment.glob("trial_*")):
        rows = epochs(trial)
        out[int(trial.name.split("_")[1])] = (max(float(r["val_accuracy"]) for r in rows),
                                             int(float(rows[0]["params"])), len(rows))
    return out


def test_every_trial_records_its_costs_and_they_are_the_models(pareto_run: Path) -> None:
    for trial in sorted(pareto_run.glob("trial_*")):
        config = json.loads((trial / "params.json").read_text())
        built = build_model(config).count_params()  # the same network, built here
        for row in epochs(trial):
            assert int(float(row["params"])) == built
            assert float(row["file_bytes"]) > 4 * int(float(row["params"]))  # float32 weights
            assert 0 < float(row["latency_ms_batch_256"]) <= float(row["latency_ms_batch_1"])


def test_the_leaderboard_front_is_the_non_dominated_trials(pareto_run: Path) -> None:
    truth = measured(pareto_run)
    assert len({params for _, params, _ in truth.values()}) >= 2  # a trade-off to show
    non_dominated = {n for n, (acc, params, _) in truth.items()
                     if not any(a >= acc and p <= params and (a, p) != (acc, params)
                                for a, p, _ in truth.values())}
    proc = run_cli("leaderboard", str(pareto_run), "--pareto", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r["trial"] for r in rows} == non_dominated
    assert [r["params"] for r in rows] == sorted(r["params"] for r in rows)  # cheapest first


def test_the_study_was_told_what_the_records_say(pareto_run: Path) -> None:
    truth = measured(pareto_run)
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(pareto_run / "optuna.journal")))
    study = optuna.load_study(study_name="pareto", storage=storage)
    assert len(study.directions) == 2 and len(study.trials) == len(truth)
    assert any(t.state is TrialState.PRUNED for t in study.trials)  # ASHA stopped some
    for t in study.trials:
        accuracy, params, trained = truth[t.number + 1]
        if trained == 2:
            assert t.state is TrialState.COMPLETE
            assert t.values == pytest.approx([accuracy, params])
        else:
            assert t.state is TrialState.PRUNED and t.values is None
    manifest = json.loads((pareto_run / "search.json").read_text())
    assert manifest["scheduler"]["rungs_rank_by"] == "fronts of (val_accuracy, params)"
    assert "prior" not in manifest["sampler"]  # the prior is accuracy's, not the trade-off's


def test_export_under_a_limit_takes_the_most_accurate_within_it(pareto_run: Path,
                                                                  tmp_path: Path) -> None:
    truth = measured(pareto_run)
    limit = sorted({params for _, params, _ in truth.values()})[-2]  # not the largest
    within = {n: acc for n, (acc, params, _) in truth.items() if params <= limit}
    expected = max(within, key=lambda n: (within[n], -n))
    proc = run_cli("export", str(pareto_run), "--max-params", str(limit),
                   "--out", str(tmp_path / "small"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "small" / "metrics.json").read_text())
    assert metrics["trial"] == expected
