"""How well early judgments predict final ranks: Spearman's rho between the val_accuracy a
configuration shows after 1, 2, 3 epochs (ASHA's rungs) and after the last epoch.

Configurations are drawn at random from a space (seeded, the search's own define-by-run
sampling), each trained once for ``--epochs`` epochs on the same split. Every epoch is
validated twice on the same weights: with Keras' moving batch-norm averages as they are
("before": what mnist-hpo reported until precise BN) and after re-estimating them
(``recalibrate_batch_norm``, "after": what it reports now). Moving statistics are not used
in training mode, so both columns come from one training run: the weights are the same.

Each finished configuration is saved to ``--out``/early_ranks.json at once; a rerun skips
the ones already there, so the script can be stopped and resumed. ``--out`` defaults to
benchmarks/results; a ``--quick`` run writes to a new temporary folder instead, and refuses
(exit 2) an ``--out`` that holds a full run's early_ranks.json (``benchmarks/output.py``).

    python benchmarks/early_ranks.py --data ../shared/data/mnist.npz --out docs/performance  # ~1 h
    python benchmarks/early_ranks.py --data ../shared/data/mnist.npz --quick  # ~2 min
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import machine
from benchmarks.output import out_dir
from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads

FULL = {"configs": 24, "epochs": 9, "subset": 10000, "validation": 5000}
QUICK = {"configs": 4, "epochs": 2, "subset": 1000, "validation": 500}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--space", default="default", help="preset or YAML space")
    p.add_argument("--quick", action="store_true", help="tiny scale (tests)")
    for key, value in FULL.items():
        p.add_argument(f"--{key}", type=int, help=f"(full: {value}, quick: {QUICK[key]})")
    p.add_argument("--seed", type=int, default=0, help="sampling, split and training seed")
    p.add_argument("--out", help="folder for early_ranks.json (default: benchmarks/results; "
                   "with --quick a new temporary folder)")
    args = p.parse_args(argv)
    args.out = str(out_dir(args.out, quick=args.quick, default="benchmarks/results",
                           name="early_ranks", files=["early_ranks.json"]))
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def ranks(values: list[float]) -> list[float]:
    """1 for the smallest value; ties get their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (ties get their mean rank)."""
    ra, rb = ranks(a), ranks(b)
    if len(set(ra)) < 2 or len(set(rb)) < 2:
        return float("nan")
    return statistics.correlation(ra, rb)


#: Traits whose early judgment is checked for a bias (see ``rank_shift``).
TRAITS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "batch_norm": lambda c: bool(c["batch_norm"]),
    "cosine_schedule": lambda c: c.get("lr_schedule") == "cosine",
    "batch_128_or_more": lambda c: int(c.get("batch_size", 32)) >= 128}


def run_config(config: dict[str, Any], split: Any, epochs: int, seed: int) -> dict[str, Any]:
    """Train ``config``; per epoch the val_accuracy before and after recalibration."""
    import keras

    from mnist_hpo.search.training.batchnorm import PreciseBatchNorm, recalibrate_batch_norm
    from mnist_hpo.search.training.divergence import DivergedError
    from mnist_hpo.search.training.fit import Fit, evaluate

    keras.backend.clear_session()
    fit = Fit(config, split, epochs=epochs, seed=seed, precise_bn=False)
    sample = PreciseBatchNorm(split.x_train).images  # the images Fit recalibrates on
    before: list[float] = []
    after: list[float] = []
    try:
        while fit.done < epochs:
            before.append(fit.epoch()["val_accuracy"])
            norms = [layer for layer in fit.model.layers
                     if isinstance(layer, keras.layers.BatchNormalization)]
            if not norms:
                after.append(before[-1])
                continue
            saved = [(n.moving_mean.numpy(), n.moving_variance.numpy()) for n in norms]
            recalibrate_batch_norm(fit.model, sample)
            after.append(evaluate(fit.model, split.x_val, split.y_val)["accuracy"])
            for n, (mean, variance) in zip(norms, saved, strict=True):
                n.moving_mean.assign(mean)  # training goes on exactly as before
                n.moving_variance.assign(variance)
    except DivergedError as e:
        return {"config": config, "before": before, "after": after, "diverged": str(e)}
    return {"config": config, "before": before, "after": after}


def summarize(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """Spearman of epoch k against the last epoch, before and after, for all configurations
    and for the batch-norm ones; a diverged run scores 0 from its divergence on."""
    def padded(run: dict[str, Any], key: str) -> list[float]:
        return _padded(run, key, epochs)

    table: dict[str, Any] = {"rank_shift": rank_shift(runs, epochs),
                             "kept_by_first_rung": kept_by_first_rung(runs, epochs)}
    groups = {"all": runs, "batch_norm": [r for r in runs if r["config"]["batch_norm"]],
              "no_batch_norm": [r for r in runs if not r["config"]["batch_norm"]]}
    for group, rs in groups.items():
        if len(rs) < 3:
            continue
        final = [padded(r, "after")[-1] for r in rs]  # the faithful final score
        row: dict[str, Any] = {"configs": len(rs)}
        for k in range(1, epochs):
            row[f"epoch_{k}"] = {
                arm: spearman([padded(r, arm)[k - 1] for r in rs], final)
                for arm in ("before", "after")}
        table[group] = row
    return table


def _padded(run: dict[str, Any], key: str, epochs: int) -> list[float]:
    return [float(v) for v in run[key]] + [0.0] * (epochs - len(run[key]))


def rank_shift(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """Per trait, the mean of (rank after the last epoch − rank after epoch 1) over the
    configurations that have it, ranks counted from the worst (both arms against the
    recalibrated final): positive means the first epoch judges the trait too harshly."""
    final = ranks([_padded(r, "after", epochs)[-1] for r in runs])
    out: dict[str, Any] = {}
    for trait, has in TRAITS.items():
        members = [i for i, r in enumerate(runs) if has(r["config"])]
        if not members:
            continue
        out[trait] = {"configs": len(members)}
        for arm in ("before", "after"):
            first = ranks([_padded(r, arm, epochs)[0] for r in runs])
            out[trait][arm] = statistics.mean(final[i] - first[i] for i in members)
    return out


def kept_by_first_rung(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """Of the final top quarter, the share in the top half after epoch 1: what ASHA
    (reduction factor 2, grace period 1) keeps of the configurations that end best."""
    n = len(runs)
    best = set(sorted(range(n), key=lambda i: -_padded(runs[i], "after", epochs)[-1])
               [:max(1, n // 4)])
    out: dict[str, Any] = {"final_top": len(best)}
    for arm in ("before", "after"):
        kept = set(sorted(range(n), key=lambda i: -_padded(runs[i], arm, epochs)[0])
                   [:max(1, n // 2)])
        out[arm] = len(best & kept) / len(best)
    return out


def reusable(saved: dict[str, Any], settings: dict[str, Any],
             configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved runs a rerun keeps. The configurations are drawn in order, so the runs of a
    longer or shorter run at the same scale are a prefix of this one's: kept while they
    trained the very configuration drawn now (a space edited since draws others: those are
    run again)."""
    same = {k: v for k, v in saved.get("settings", {}).items() if k != "configs"} == \
        {k: v for k, v in settings.items() if k != "configs"}
    runs: list[dict[str, Any]] = []
    for run, config in zip(saved.get("runs", []) if same else [], configs, strict=False):
        if run["config"] != config:
            break
        runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    prepare_tensorflow()
    set_threads(os.cpu_count())

    from mnist_hpo.search.training.data import load_mnist, split_mnist
    from mnist_hpo.spaces import load_space, resolve_config
    from mnist_hpo.spaces.sampling import sample_configs

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "early_ranks.json"
    saved = json.loads(path.read_text()) if path.exists() else {}
    settings = {k: getattr(args, k) for k in ("space", "seed", *FULL)}
    split = split_mnist(load_mnist(args.data), validation=args.validation, subset=args.subset,
                        seed=args.seed)
    configs = [resolve_config(c) for c in
               sample_configs(load_space(args.space), args.configs, seed=args.seed)]
    runs = reusable(saved, settings, configs)
    for i, config in enumerate(configs):
        if i < len(runs):
            continue  # finished in an earlier run
        run = run_config(config, split, args.epochs, args.seed)
        runs.append(run)
        print(f"config {i + 1}/{len(configs)} bn={config['batch_norm']!s:<5} "
              f"before {' '.join(f'{v:.3f}' for v in run['before'])} | "
              f"after {' '.join(f'{v:.3f}' for v in run['after'])}", flush=True)
        path.write_text(json.dumps({"settings": settings, "quick": args.quick,
                                    "machine": machine(), "runs": runs}, indent=1) + "\n")
    summary = summarize(runs, args.epochs)
    path.write_text(json.dumps({"settings": settings, "quick": args.quick, "machine": machine(),
                                "runs": runs, "summary": summary}, indent=1) + "\n")
    print(f"\nSpearman's rho of val_accuracy after epoch k against after epoch {args.epochs} "
          f"(recalibrated), {len(runs)} configurations of '{args.space}', "
          f"{args.subset:,} training / {args.validation:,} validation images")
    for group, row in summary.items():
        if group in ("rank_shift", "kept_by_first_rung"):
            continue
        cells = "  ".join(f"e{k}: {row[f'epoch_{k}']['before']:+.2f} → "
                          f"{row[f'epoch_{k}']['after']:+.2f}"
                          for k in range(1, min(4, args.epochs)))
        print(f"{group:<14} ({row['configs']:>2})  {cells}")
    kept = summary["kept_by_first_rung"]
    print(f"Of the final top {kept['final_top']}, kept by a first rung of 1 epoch "
          f"(top half): {kept['before']:.0%} before, {kept['after']:.0%} after")
    for trait, row in summary["rank_shift"].items():
        print(f"{trait:<18} ({row['configs']:>2}) rank gained from epoch 1 to the end: "
              f"{row['before']:+.1f} before, {row['after']:+.1f} after")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
