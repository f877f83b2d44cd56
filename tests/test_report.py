"""Report figures: their data checked as data, and real PNG/SVG files and one HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from test_reports import write_experiment

from mnist_hpo.reports import load_experiment
from mnist_hpo.reports.plot_data import curves, history, param_effects, top_curves
from mnist_hpo.reports.report import PREDICTIONS, write_report

SPACE = {"name": "t", "epochs": 3, "params": {
    "learning_rate": {"low": 1e-6, "high": 0.1, "log": True},
    "dense_units": {"choices": [32, 64, 128]}}}


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    root = write_experiment(tmp_path / "e")
    manifest = json.loads((root / "search.json").read_text())
    (root / "search.json").write_text(json.dumps(manifest | {"space": SPACE}))
    return root


def test_plot_data(experiment: Path) -> None:
    exp = load_experiment(experiment)
    c = curves(exp.best())
    assert c.trial == 3 and c.epochs == [1, 2, 3] and c.val_accuracy == [0.93, 0.98, 0.96]
    assert c.loss == pytest.approx([0.5, 0.25, 0.5 / 3])
    assert [t.trial for t in top_curves(exp, k=2)] == [3, 1]
    h = history(exp)
    assert h.trials == [1, 2, 3, 4] and h.scores == [0.97, 0.2, 0.98, 0.5]
    assert h.best_so_far == [0.97, 0.97, 0.98, 0.98]
    assert h.stopped_early == [False, True, False, False]
    effects = {e.name: e for e in param_effects(exp)}
    assert set(effects) == {"learning_rate", "dense_units"}
    assert effects["dense_units"].values == [64, 32, 128, 32]
    importances = [e.importance for e in effects.values()]
    assert all(i is not None and 0 <= i <= 1 for i in importances)
    assert sum(i or 0 for i in importances) == pytest.approx(1.0)


def test_report_writes_real_figures_and_one_page(experiment: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    y_true = np.arange(100) % 10
    y_pred = y_true.copy()
    y_pred[:7] = (y_pred[:7] + 1) % 10
    np.savez(export / PREDICTIONS, y_true=y_true, y_pred=y_pred,
             wrong_images=np.zeros((7, 28, 28), np.uint8))
    (export / "metrics.json").write_text(json.dumps({"trial": 3}))

    page = write_report(load_experiment(experiment), tmp_path / "report", top=3,
                        export_dir=export)
    names = ["best_accuracy", "best_loss", "top_trials", "history", "importance",
             "parameters", "confusion", "misclassified"]
    for name in names:
        png = tmp_path / "report" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width = matplotlib.image.imread(png).shape[:2]
        assert 300 <= width <= 2000 and 120 <= height <= 2000, (name, width, height)
        assert (tmp_path / "report" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    text = page.read_text()
    assert text.count("data:image/png;base64,") == len(names)
    assert "test accuracy <b>93.00%</b>" in text and "Exported model (trial 3)" in text
    assert "<td>3</td>" in text and "&quot;learning_rate&quot;: 0.01" in text
