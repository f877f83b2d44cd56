"""Draw the report figures (PNG and SVG) from the data of ``plot_data`` and ``export``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mnist_hpo.reports.pareto import Point
from mnist_hpo.reports.plot_data import Curves, History, ParamEffect


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` and close the figure."""
    # Leave room for a figure-wide title above the panels' own.
    fig.tight_layout(rect=(0, 0, 1, 0.96) if fig.get_suptitle() else None)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(paths[0], dpi=120)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def metric_curves(c: Curves, metric: str, stem: Path) -> list[Path]:
    """The tutorial's figure: training vs validation ``accuracy`` or ``loss`` per epoch."""
    fig, ax = plt.subplots(figsize=(6, 4))
    train, val = (c.accuracy, c.val_accuracy) if metric == "accuracy" else (c.loss, c.val_loss)
    ax.plot(c.epochs, train, "o-", label=f"training {metric}")
    ax.plot(c.epochs, val, "s-", label=f"validation {metric}")
    ax.set(title=f"Best trial ({c.trial}): {metric} per epoch", xlabel="epoch", ylabel=metric)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, stem)


def top_curves(curves: list[Curves], stem: Path) -> list[Path]:
    """Validation accuracy per epoch of the best trials, overlaid."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for c in curves:
        ax.plot(c.epochs, c.val_accuracy, "o-", label=f"trial {c.trial}")
    ax.set(title=f"Top {len(curves)} trials: validation accuracy", xlabel="epoch",
           ylabel="val_accuracy")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, stem)


def history(h: History, stem: Path) -> list[Path]:
    """Each trial's best val_accuracy in trial order, and the best so far."""
    fig, ax = plt.subplots(figsize=(7, 4))
    done = [i for i, s in enumerate(h.stopped_early) if not s]
    early = [i for i, s in enumerate(h.stopped_early) if s]
    ax.scatter([h.trials[i] for i in done], [h.scores[i] for i in done], label="ran all epochs")
    ax.scatter([h.trials[i] for i in early], [h.scores[i] for i in early], marker="x",
               label="stopped early")
    ax.step(h.trials, h.best_so_far, where="post", color="black", label="best so far")
    ax.set(title="Search history", xlabel="trial", ylabel="val_accuracy (best epoch)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _focus(ax, h.scores)
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, stem)


def importance(effects: list[ParamEffect], stem: Path) -> list[Path]:
    """Horizontal bars: PED-ANOVA importance of each searched parameter."""
    known = [e for e in effects if e.importance is not None][::-1]
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * max(len(known), 3) + 1.2))
    ax.barh([e.name for e in known], [e.importance or 0.0 for e in known])
    ax.set(title="Parameter importance (Optuna PED-ANOVA, completed trials)",
           xlabel="importance (normalised to sum to 1)")
    if not known:
        ax.text(0.5, 0.5, "not enough finished trials", ha="center", transform=ax.transAxes)
    return save(fig, stem)


def parameters(effects: list[ParamEffect], stem: Path) -> list[Path]:
    """One panel per searched parameter: its value against val_accuracy."""
    shown = [e for e in effects if e.values]
    cols = 3
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    for ax, e in zip(axes.flat, shown, strict=False):
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in e.values):
            ax.scatter(e.values, e.scores, s=14)
            if all(isinstance(v, int) for v in e.values):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            positive = all(v > 0 for v in e.values)
            if positive and max(e.values) / max(min(e.values), 1e-12) > 50:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in e.values})
            ax.scatter([labels.index(str(v)) for v in e.values], e.scores, s=14)
            ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set(title=e.name, ylabel="val_accuracy")
        _focus(ax, e.scores)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    fig.suptitle("Parameters against val_accuracy")
    return save(fig, stem)


def confusion(matrix: np.ndarray, accuracy: float, stem: Path) -> list[Path]:
    """Test-set confusion matrix of the exported model (counts; true digit per row)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if n > matrix.max() / 2 else "black")
    ax.set(title=f"Test confusion matrix (accuracy {accuracy:.2%})", xlabel="predicted",
           ylabel="true", xticks=range(10), yticks=range(10))
    return save(fig, stem)


def misclassified(images: np.ndarray, true: np.ndarray, pred: np.ndarray, total: int,
                  stem: Path) -> list[Path]:
    """A grid of misclassified test digits, each titled true → predicted; ``total``: how
    many test digits were misclassified in all."""
    n = min(len(images), 36)
    cols = 9
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray_r")
            ax.set_title(f"{true[i]} → {pred[i]}", fontsize=8)
    fig.suptitle(f"Misclassified test digits (true → predicted): {n} of {total}")
    return save(fig, stem)


def pareto(points: list[Point], front: list[Point], seed: int | None, label: str,
           stem: Path) -> list[Path]:
    """val_accuracy against a cost (log scale): every trial, the Pareto front as a step
    line, the seed network marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter([p.cost for p in points], [p.val_accuracy for p in points], s=18,
               color="0.6", label="trials")
    ax.step([p.cost for p in front], [p.val_accuracy for p in front], where="post",
            color="tab:blue", marker="o", label="Pareto front")
    for p in front:
        ax.annotate(str(p.trial), (p.cost, p.val_accuracy), textcoords="offset points",
                    xytext=(4, -10), fontsize=7, color="tab:blue")
    marked = [p for p in points if p.trial == seed]
    if marked:
        ax.scatter([marked[0].cost], [marked[0].val_accuracy], marker="*", s=160,
                   color="tab:red", zorder=3, label=f"seed network (trial {seed})")
    ax.set_xscale("log")
    ax.set(title=f"val_accuracy against {label}", xlabel=f"{label} (log scale)",
           ylabel="best val_accuracy")
    _focus(ax, [p.val_accuracy for p in points])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, stem)


def _focus(ax: Any, scores: list[float]) -> None:
    """Zoom the y axis on the good trials: a few hopeless ones would flatten the rest."""
    if not scores:
        return
    low = float(np.percentile(scores, 10)) if len(scores) >= 10 else min(scores)
    top = max(scores)
    if top - low > 0:
        ax.set_ylim(low - 0.1 * (top - low), top + 0.1 * (top - low))
