"""Export round trip on the real search's best model: reload, equal predictions, test set."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_cli

from mnist_hpo.reports import load_experiment
from mnist_hpo.reports.export import ExportError, verify_in_fresh_process
from mnist_hpo.search.training.data import load_mnist, scale_images

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(search_run: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, Path, str]:
    experiment, _ = search_run
    out = tmp_path_factory.mktemp("export") / "best"
    proc = run_cli("export", str(experiment), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return experiment, out, proc.stdout


def test_export_writes_verified_files(exported: tuple[Path, Path, str],
                                      mnist_path: Path) -> None:
    experiment, out, stdout = exported
    assert {p.name for p in out.iterdir()} >= {"model.keras", "saved_model", "config.json",
                                               "metrics.json", "test_predictions.npz"}
    metrics = json.loads((out / "metrics.json").read_text())
    best = load_experiment(experiment).best()
    assert metrics["trial"] == best.number and metrics["val_accuracy"] == best.best_val_accuracy
    assert json.loads((out / "config.json").read_text()) == best.params
    assert metrics["reload_max_difference"] <= 1e-5
    assert f"test_accuracy {metrics['test_accuracy']:.4f}" in stdout

    # Plain keras.models.load_model, as a user would, predicts what the checkpoint predicts.
    data = load_mnist(mnist_path)
    x = scale_images(data.x_test[:500])
    exported_model = keras.models.load_model(out / "model.keras")
    assert best.checkpoint is not None
    trained = keras.models.load_model(best.checkpoint / "model.keras")
    np.testing.assert_allclose(exported_model.predict(x, verbose=0),
                               trained.predict(x, verbose=0), atol=1e-6)
    accuracy = np.mean(exported_model.predict(scale_images(data.x_test), verbose=0).argmax(1)
                       == data.y_test)
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6) and accuracy > 0.8


def test_a_mismatch_fails_loudly(exported: tuple[Path, Path, str]) -> None:
    _, out, _ = exported
    x = np.zeros((4, 28, 28, 1), np.float32)
    wrong = np.full((4, 10), 0.1, np.float32)
    with pytest.raises(ExportError, match=r"predicts differently from the trained one"):
        verify_in_fresh_process(out, x, wrong)
    (out / "broken").mkdir()
    with pytest.raises(ExportError, match=r"does not reload in a fresh process"):
        verify_in_fresh_process(out / "broken", x, wrong)


def test_report_after_export_has_test_figures(exported: tuple[Path, Path, str],
                                              tmp_path: Path) -> None:
    experiment, out, _ = exported
    proc = run_cli("report", str(experiment), "--out", str(tmp_path / "r"), "--export", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "r" / "confusion.png").exists()
    assert (tmp_path / "r" / "misclassified.png").exists()
    assert "test accuracy" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--trial", "99"], r"--trial 99: no such trial in .* \(trials: 1, 2, 3, 4\)"),
    (["--out", "EXISTING"], r"already exists and is not an empty folder; choose a new folder"),
])
def test_export_bad_input(search_run: tuple[Path, str], exported: tuple[Path, Path, str],
                          args: list[str], message: str) -> None:
    experiment, _ = search_run
    args = [str(exported[1]) if a == "EXISTING" else a for a in args]
    proc = run_cli("export", str(experiment), *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    import re

    assert re.search(message, proc.stderr), proc.stderr
