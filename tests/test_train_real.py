"""Real MNIST, real TensorFlow: training rises, the CLI saves files that reload."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_cli

from mnist_hpo.search.training.data import load_mnist, scale_images, split_mnist
from mnist_hpo.search.training.fit import EPOCH_KEYS, evaluate, train
from mnist_hpo.spaces import load_space, sample_configs

pytestmark = pytest.mark.slow


def test_smoke_trains_one_epoch_above_80_percent(mnist_path: Path) -> None:
    split = split_mnist(load_mnist(mnist_path), subset=2000, seed=0)
    config = sample_configs(load_space("smoke"), 1, seed=0)[0]
    seen: list[dict[str, float]] = []
    result = train(config, split, epochs=1, seed=0, on_epoch=seen.append)
    assert seen == result.history and len(result.history) == 1
    row = result.history[0]
    assert set(EPOCH_KEYS) <= set(row)
    assert row["val_accuracy"] > 0.8, row
    assert row["images_per_second"] > 0 and row["seconds"] > 0
    assert evaluate(result.model, split.x_val, split.y_val)["accuracy"] == pytest.approx(
        row["val_accuracy"], abs=1e-6)


def test_stopping_early_keeps_the_planned_schedule(mnist_path: Path) -> None:
    """What replay of a trial ASHA stopped relies on: a cosine schedule planned over 4
    epochs and stopped after 1 has decayed a quarter of the way (over 1 epoch: all of it, and
    that replay differed from the trial by 19 of 1,000 validation images)."""
    split = split_mnist(load_mnist(mnist_path), validation=500, subset=640, seed=0)
    config = {"conv_blocks": 1, "convs_per_block": 1, "filters_1": 8, "dense_units": 32,
              "learning_rate": 0.01, "lr_schedule": "cosine", "batch_size": 64}
    result = train(config, split, epochs=4, stop_after=1, seed=0)
    assert len(result.history) == 1
    expected = 0.01 * 0.5 * (1 + np.cos(np.pi / 4))  # 10 of 40 planned steps done
    assert float(result.model.optimizer.learning_rate) == pytest.approx(expected, rel=1e-5)


def test_cli_train_saves_files_that_reload(mnist_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = json.dumps({"conv_blocks": 1, "convs_per_block": 1, "filters_1": 16,
                         "dense_units": 64, "learning_rate": 0.003, "rotation": 5.0})
    proc = run_cli("train", "--config", config, "--epochs", "2", "--subset", "2000",
                   "--validation", "1000", "--data", str(mnist_path), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 2 and "val_accuracy" in lines[0] and "images/s" in lines[0]
    assert "test_accuracy" in proc.stdout

    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]  # training makes progress
    saved = json.loads((out / "config.json").read_text())
    assert saved["filters_1"] == 16 and saved["rotation"] == 5.0 and "filters_2" not in saved
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["train_images"] == 2000 and metrics["data"]["validation_images"] == 1000
    assert len(metrics["data"]["sha256"]) == 64
    assert metrics["test_accuracy"] > 0.85

    model = keras.models.load_model(out / "model.keras")
    data = load_mnist(mnist_path)
    predicted = model.predict(scale_images(data.x_test[:500]), verbose=0).argmax(axis=1)
    assert np.mean(predicted == data.y_test[:500]) > 0.85

    # The saved config.json trains again as --config (a round trip users rely on).
    again = run_cli("train", "--config", str(out / "config.json"), "--epochs", "1",
                    "--subset", "500", "--validation", "500", "--data", str(mnist_path),
                    "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
