"""A real search: Ray Tune + Optuna + ASHA + TensorFlow on real MNIST, through the CLI."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import keras
import numpy as np
import optuna
import pytest
from conftest import run_cli

from mnist_hpo.search.experiment.names import CHECKPOINT_MODEL
from mnist_hpo.search.training.data import load_mnist, scale_images

pytestmark = pytest.mark.slow


def rows(trial: Path) -> list[dict[str, str]]:
    with (trial / "progress.csv").open() as f:
        return list(csv.DictReader(f))


def test_every_trial_reports_every_epoch(search_run: tuple[Path, str]) -> None:
    experiment, _ = search_run
    trials = sorted(experiment.glob("trial_*"))
    assert [t.name for t in trials] == ["trial_0001", "trial_0002", "trial_0003", "trial_0004"]
    for trial in trials:
        epochs = rows(trial)
        assert [int(r["epoch"]) for r in epochs] == list(range(1, len(epochs) + 1))
        assert [int(r["training_iteration"]) for r in epochs] == [int(r["epoch"]) for r in epochs]
        for r in epochs:
            assert float(r["images_per_second"]) > 0 and float(r["seconds"]) > 0
            assert 0 <= float(r["val_accuracy"]) <= 1 and float(r["loss"]) > 0
        assert list(trial.glob("events.out.tfevents.*")), "TensorBoard events missing"


@pytest.mark.load
def test_asha_stops_a_hopeless_trial_early(search_run: tuple[Path, str]) -> None:
    experiment, stdout = search_run
    runs = {t.name: rows(t) for t in experiment.glob("trial_*")}
    stopped = [name for name, r in runs.items() if len(r) < 2]
    assert stopped, {n: len(r) for n, r in runs.items()}
    # Stopped at the rung (epoch 1), and never the trial that led there.
    first = {name: float(r[0]["val_accuracy"]) for name, r in runs.items()}
    for name in stopped:
        assert len(runs[name]) == 1 and first[name] < max(first.values()), first
    assert "(stopped early)" in stdout
    assert stdout.count(" finished: val_accuracy=") == 4
    assert "Best: trial" in stdout and f"mnist-hpo leaderboard {experiment}" in stdout


def test_best_checkpoint_loads_and_predicts(search_run: tuple[Path, str],
                                            mnist_path: Path) -> None:
    experiment, _ = search_run
    manifest = json.loads((experiment / "search.json").read_text())
    best = Path(manifest["best_checkpoint"])
    assert best.parent.name == f"trial_{manifest['best_trial']:04d}"
    # Ray keeps the best checkpoint and the latest one, no more, and the best is the best epoch.
    kept = list(best.parent.glob("checkpoint_*"))
    assert best in kept and len(kept) <= 2
    state = json.loads((best / "state.json").read_text())
    assert state["val_accuracy"] == pytest.approx(manifest["best_val_accuracy"])
    model = keras.models.load_model(best / CHECKPOINT_MODEL)
    data = load_mnist(mnist_path)
    probs = model.predict(scale_images(data.x_test[:300]), verbose=0)
    assert probs.shape == (300, 10)
    assert np.mean(probs.argmax(1) == data.y_test[:300]) > 0.8
    assert manifest["best_val_accuracy"] > 0.8


def test_manifest_is_complete(search_run: tuple[Path, str], mnist_path: Path) -> None:
    experiment, _ = search_run
    m = json.loads((experiment / "search.json").read_text())
    assert m["status"] == "finished" and m["trials_run"] == 4 and m["trials_errored"] == 0
    assert m["space"]["name"] == "asha-check" and m["searched"] == ["dense_units",
                                                                    "learning_rate"]
    assert m["sampler"] == {"type": "TPESampler", "seed": 0, "multivariate": True,
                            "group": True, "constant_liar": True, "n_startup_trials": 5,
                            "early_stopped_trials_told_as": "PRUNED",
                            "unfinished_trials_seen_as": "PRUNED at their last epoch",
                            "prior": {"center": "seed network", "beta": 8.0, "spread": 0.2,
                                      "keep": 0.6}}
    assert m["scheduler"] == {"type": "ASHAScheduler", "time_attr": "training_iteration",
                              "max_t": 2, "grace_period": 1, "reduction_factor": 4.0}
    assert m["data"]["sha256"] == load_mnist(mnist_path).sha256
    assert (m["data"]["train_images"], m["data"]["validation_images"]) == (3000, 1000)
    assert set(m["versions"]) >= {"tensorflow", "keras", "ray", "optuna", "numpy"}
    # The kernels its workers loaded with (export loads the same): on unless the user said.
    assert m["tensorflow"] == {"TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS",
                                                                       "1")}
    assert "search" in m["command"] and m["budget"]["trials"] == 4
    assert m["resources"]["cpus_per_trial"] == 1.0 and m["started_at"] and m["finished_at"]


def test_optuna_journal_and_ray_state_reopen(search_run: tuple[Path, str]) -> None:
    experiment, _ = search_run
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(experiment / "optuna.journal")))
    study = optuna.load_study(study_name="e2e", storage=storage)
    assert len(study.trials) == 4

    # Honest early stopping: Optuna's record of each trial is what happened.
    for ot_trial, folder in zip(study.trials, sorted(experiment.glob("trial_*")), strict=True):
        epochs = rows(folder)
        values = [float(r["val_accuracy"]) for r in epochs]
        assert ot_trial.params == {k: v for k, v in json.loads(
            (folder / "params.json").read_text()).items() if k in ot_trial.params}
        assert ot_trial.intermediate_values == pytest.approx(dict(enumerate(values, start=1)))
        if len(epochs) < 2:  # stopped early by ASHA
            # Optuna keeps a pruned trial's last intermediate value as its value.
            assert ot_trial.state == optuna.trial.TrialState.PRUNED
            assert ot_trial.value == pytest.approx(values[-1])
        else:
            assert ot_trial.state == optuna.trial.TrialState.COMPLETE
            assert ot_trial.value == pytest.approx(max(values))

    from ray import tune

    assert tune.Tuner.can_restore(str(experiment))


def test_replay_reproduces_a_trial(search_run: tuple[Path, str]) -> None:
    experiment, _ = search_run
    proc = run_cli("replay", str(experiment), "--trial", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Replaying trial 1 (completed): 2 of 2 planned epochs, seed 0, "
                               "1 thread")
    worst = float(lines[-1].split("difference: ")[1].split()[0])
    assert worst <= 0.005, proc.stdout  # same seed, split and threads: the same curve
    bad = run_cli("replay", str(experiment), "--trial", "9")
    assert bad.returncode == 2 and "--trial 9: no such trial" in bad.stderr


def test_log_lines_carry_progress_that_reads_back(search_run: tuple[Path, str]) -> None:
    """Not a terminal: each per-trial line ends in the progress figures as key=value pairs,
    and they agree with the records."""
    experiment, stdout = search_run
    lines = [line for line in stdout.splitlines() if line.startswith("Trial ")]
    figures = [dict(re.findall(r"(\w+)=(\S+)", line.split(" | progress ")[1]))
               for line in lines]
    assert [int(f["trials_done"]) for f in figures] == [1, 2, 3, 4]
    assert {f["trials_planned"] for f in figures} == {"4"}
    epochs = [int(f["epochs"]) for f in figures]
    assert epochs == sorted(epochs) and epochs[-1] == sum(
        len(rows(t)) for t in experiment.glob("trial_*"))
    best = max(float(r["val_accuracy"]) for t in experiment.glob("trial_*") for r in rows(t))
    assert float(figures[-1]["best"]) == pytest.approx(best, abs=1e-4)
    assert all(int(f["elapsed_s"]) >= 0 for f in figures)
    assert figures[-1]["trials_running"] == "0" and figures[-1]["left_s"] == "0"
    # The end: the leaderboard's top rows and the commands to run next.
    assert "Top 4 trials:" in stdout and f"mnist-hpo report {experiment}" in stdout
    assert f"mnist-hpo export {experiment} --ensemble auto" in stdout
