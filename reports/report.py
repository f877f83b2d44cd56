"""``mnist-hpo report``: the figures of a search and one self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from mnist_hpo.reports import plot_data, plots
from mnist_hpo.reports.leaderboard import leaderboard_rows, render
from mnist_hpo.reports.records import Experiment

PREDICTIONS = "test_predictions.npz"


def write_report(experiment: Experiment, out: Path, top: int = 5,
                 export_dir: Path | None = None) -> Path:
    """Draw every figure into ``out`` (PNG and SVG) and write ``out/report.html``.

    Args:
        experiment: The search.
        out: Folder for the figures and the page (created if needed).
        top: Trials in the overlaid validation curves and the page's leaderboard.
        export_dir: Where ``mnist-hpo export`` wrote ``test_predictions.npz``; when present
            the report adds the exported model's confusion matrix and misclassified digits.
    """
    out.mkdir(parents=True, exist_ok=True)
    best = experiment.best()
    best_curves = plot_data.curves(best)
    effects = plot_data.param_effects(experiment)
    figures = {
        "Best trial: accuracy": plots.metric_curves(best_curves, "accuracy",
                                                    out / "best_accuracy"),
        "Best trial: loss": plots.metric_curves(best_curves, "loss", out / "best_loss"),
        f"Top {top} trials": plots.top_curves(plot_data.top_curves(experiment, top),
                                              out / "top_trials"),
        "Search history": plots.history(plot_data.history(experiment), out / "history"),
        "Parameter importance": plots.importance(effects, out / "importance"),
        "Parameters against val_accuracy": plots.parameters(effects, out / "parameters"),
    }
    test_line = ""
    predictions = (export_dir or experiment.path / "export") / PREDICTIONS
    if predictions.exists():
        with np.load(predictions) as p:
            y_true, y_pred = p["y_true"], p["y_pred"]
            matrix = np.zeros((10, 10), dtype=int)
            np.add.at(matrix, (y_true, y_pred), 1)
            accuracy = float(np.mean(y_true == y_pred))
            wrong = np.flatnonzero(y_true != y_pred)
            figures["Exported model: test confusion matrix"] = plots.confusion(
                matrix, accuracy, out / "confusion")
            shown = wrong[:len(p["wrong_images"])]
            figures["Exported model: misclassified test digits"] = plots.misclassified(
                p["wrong_images"], y_true[shown], y_pred[shown], len(wrong),
                out / "misclassified")
        test_line = (f"<p>Exported model (trial {_exported_trial(predictions)}): test accuracy "
                     f"<b>{accuracy:.2%}</b> on {len(y_true):,} images, evaluated once.</p>")
    page = out / "report.html"
    page.write_text(_page(experiment, figures, top, test_line))
    return page


def _exported_trial(predictions: Path) -> str:
    config = predictions.with_name("metrics.json")
    if config.exists():
        return str(json.loads(config.read_text()).get("trial", "?"))
    return "?"


def _page(experiment: Experiment, figures: dict[str, list[Path]], top: int,
          test_line: str) -> str:
    best = experiment.best()
    m = experiment.manifest
    rows = leaderboard_rows(experiment, top=top)
    table = render(rows, "markdown").splitlines()
    head = "".join(f"<th>{html.escape(c.strip())}</th>" for c in table[0].strip("|").split("|"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>"
                                    for c in line.strip("|").split("|")) + "</tr>"
                   for line in table[2:])
    images = "".join(
        f"<figure><img alt='{html.escape(title)}' src='data:image/png;base64,"
        f"{base64.b64encode(paths[0].read_bytes()).decode()}'>"
        f"<figcaption>{html.escape(title)}</figcaption></figure>"
        for title, paths in figures.items())
    config = html.escape(json.dumps(best.params, indent=2))
    stopped = sum(1 for t in experiment.trials if t.status_text.startswith("stopped"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mnist-hpo report: {html.escape(str(m.get("name", experiment.path.name)))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
img {{ max-width: 520px; border: 1px solid #eee; }}
pre {{ background: #f6f6f6; padding: 0.8em; }}
</style></head><body>
<h1>Search {html.escape(str(m.get("name", "")))}</h1>
<p>Space <b>{html.escape(str(m.get("space", {}).get("name", "?")))}</b>,
{len(experiment.trials)} trials ({stopped} stopped early), up to {experiment.max_epochs}
epochs each; {html.escape(str(m.get("sampler", {}).get("type", "?")))} sampler,
{html.escape(str(m.get("scheduler", {}).get("type", "?")))}; status
{html.escape(str(m.get("status", "?")))}. Data: {html.escape(str(m.get("data", {}).get(
    "source", "?")))}, {m.get("data", {}).get("train_images", "?")} training images.</p>
<p>Best: trial {best.number}, val_accuracy <b>{best.best_val_accuracy:.4f}</b> at epoch
{int((best.best_epoch or {}).get("epoch", 0))}.</p>
{test_line}
<h2>Leaderboard (top {top})</h2>
<table><tr>{head}</tr>{body}</table>
<h2>Best configuration</h2>
<pre>{config}</pre>
<h2>Figures</h2>
{images}
</body></html>
"""
