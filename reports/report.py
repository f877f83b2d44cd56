"""``mnist-hpo report``: the figures of a search and one self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from mnist_hpo.reports import pareto, plot_data, plots
from mnist_hpo.reports.leaderboard import leaderboard_rows, render
from mnist_hpo.search.experiment import Experiment, tally_text

PREDICTIONS = "test_predictions.npz"
EXPORT_DIRS = ("export", "export-ensemble")  # export's default folders, single and ensemble


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
    for cost, (_, label) in pareto.COSTS.items():
        pts = pareto.points(experiment, cost)
        if len(pts) >= 2:
            figures[f"val_accuracy against {label}"] = plots.pareto(
                pts, pareto.front(pts), pareto.seed_trial(experiment), label,
                out / f"pareto_{cost}")
    exports = [export_dir] if export_dir else [experiment.path / d for d in EXPORT_DIRS]
    test_line = "".join(_export_section(d, figures, out) for d in exports
                        if (d / PREDICTIONS).exists())
    page = out / "report.html"
    page.write_text(_page(experiment, figures, top, test_line))
    return page


def _export_section(export: Path, figures: dict[str, list[Path]], out: Path) -> str:
    """Figures (confusion matrix, misclassified digits) and HTML for one export folder."""
    metrics_path = export / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    ensemble = "ensemble" in metrics
    name, stem = ("Exported ensemble", "_ensemble") if ensemble else ("Exported model", "")
    with np.load(export / PREDICTIONS) as p:
        y_true, y_pred = p["y_true"], p["y_pred"]
        matrix = np.zeros((10, 10), dtype=int)
        np.add.at(matrix, (y_true, y_pred), 1)
        accuracy = float(np.mean(y_true == y_pred))
        wrong = np.flatnonzero(y_true != y_pred)
        figures[f"{name}: test confusion matrix"] = plots.confusion(
            matrix, accuracy, out / f"confusion{stem}")
        shown = wrong[:len(p["wrong_images"])]
        figures[f"{name}: misclassified test digits"] = plots.misclassified(
            p["wrong_images"], y_true[shown], y_pred[shown], len(wrong),
            out / f"misclassified{stem}")
    if not ensemble:
        return (f"<p>Exported model (trial {metrics.get('trial', '?')}): test accuracy "
                f"<b>{accuracy:.2%}</b> on {len(y_true):,} images, evaluated once.</p>")
    return _ensemble_html(metrics)


def _ensemble_html(m: dict[str, Any]) -> str:
    """The exported ensemble: its members, and what it gains and costs against the best
    single trial."""
    members = "".join(
        f"<tr><td>{r['trial']}</td><td>{r['epoch']}</td><td>{r['weight']:.2f}</td>"
        f"<td>{r['val_accuracy']:.4f}</td><td>{r['test_accuracy']:.4f}</td></tr>"
        for r in m["members"])
    rows = ""
    for label, key in (("ensemble", "ensemble"), ("best single trial", "best_single")):
        r = m[key]
        c = r["cost"]
        rows += (f"<tr><td>{label}</td><td>{r['val_accuracy']:.4f}</td>"
                 f"<td><b>{r['test_accuracy']:.2%}</b></td><td>{c['params']:,}</td>"
                 f"<td>{c['file_bytes'] / 1e6:.2f}</td><td>{c['latency_ms_batch_1']:.3f}</td>"
                 f"<td>{c['latency_ms_batch_256']:.4f}</td></tr>")
    return f"""<h2>Exported ensemble</h2>
<p>{len(m["members"])} members chosen greedily on the validation images; test set evaluated
once.</p>
<div class="scroll"><table><tr><th>trial</th><th>epoch</th><th>weight</th><th>val_accuracy</th>
<th>test_accuracy</th></tr>{members}</table></div>
<div class="scroll"><table><tr><th></th><th>val_accuracy</th><th>test_accuracy</th>
<th>parameters</th><th>file MB</th><th>ms/image, batch 1</th><th>ms/image, batch 256</th></tr>
{rows}</table></div>
"""


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
    ended = tally_text(experiment.tally())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>mnist-hpo report: {html.escape(str(m.get("name", experiment.path.name)))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
.scroll {{ max-width: 100%; overflow-x: auto; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
figure {{ display: inline-block; margin: 0.5em; vertical-align: top; }}
img {{ max-width: 520px; border: 1px solid #eee; }}
pre {{ background: #f6f6f6; padding: 0.8em; }}
</style></head><body>
<h1>Search {html.escape(str(m.get("name", "")))}</h1>
<p>Space <b>{html.escape(str(m.get("space", {}).get("name", "?")))}</b>,
{len(experiment.trials)} trials ({ended}), up to {experiment.max_epochs}
epochs each; {html.escape(str(m.get("sampler", {}).get("type", "?")))} sampler,
{html.escape(str(m.get("scheduler", {}).get("type", "?")))}; status
{html.escape(str(m.get("status", "?")))}. Data: {html.escape(str(m.get("data", {}).get(
    "source", "?")))}, {m.get("data", {}).get("train_images", "?")} training images.</p>
<p>Best: trial {best.number}, val_accuracy <b>{best.best_val_accuracy:.4f}</b> at epoch
{int((best.best_epoch or {}).get("epoch", 0))}.</p>
{test_line}
<h2>Leaderboard (top {top})</h2>
<div class="scroll"><table><tr>{head}</tr>{body}</table></div>
<h2>Best configuration</h2>
<pre>{config}</pre>
<h2>Figures</h2>
{images}
</body></html>
"""
