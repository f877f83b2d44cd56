"""Training throughput of mnist-hpo's loop against a bare Keras ``fit`` of the same model.

Both sides train the same configuration's model, on the same images, with the same batch
size and thread count, in one process, alternating run by run so that noise from a shared
machine hits both alike. Images/s is measured the same way for both (training time only,
validation excluded) and the first epoch (graph tracing) is left out.

The bare side is what a Keras 3 user writes by hand: float32 NumPy arrays into
``model.fit``, with Keras' stock RandomRotation, RandomZoom and RandomTranslation layers as
the first layers of the model when augmentation is on. mnist-hpo's side is
``mnist_hpo.search.training.train``: uint8 ``tf.data``, one-pass affine augmentation in the
pipeline, ``steps_per_execution``.

    python benchmarks/train_throughput.py --data ../shared/data/mnist.npz

Results go to ``--json`` (default: benchmarks/results/train_throughput.json); a ``--quick``
run writes to a new temporary folder instead, and refuses (exit 2) a ``--json`` that holds a
full run's results (``benchmarks/output.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.output import out_file
from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="mnist.npz (default: $MNIST_HPO_DATA)")
    p.add_argument("--images", type=int, default=10000, help="training images (default 10000)")
    p.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is warm-up")
    p.add_argument("--repeats", type=int, default=2, help="alternating runs per side")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--config", default="{}", help="configuration JSON (default: the seed)")
    p.add_argument("--json", help="result file (default: "
                   "benchmarks/results/train_throughput.json; with --quick one in a new "
                   "temporary folder)")
    p.add_argument("--quick", action="store_true", help="2,000 images, 2 epochs, 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.images, args.epochs, args.repeats = 2000, 2, 1
    args.json = str(out_file(args.json, quick=args.quick,
                             default="benchmarks/results/train_throughput.json",
                             name="train_throughput"))
    return args


def main() -> None:
    args = parse_args()
    prepare_tensorflow()
    set_threads(args.threads)

    import keras

    from mnist_hpo.search.training.data import load_mnist, scale_images, split_mnist
    from mnist_hpo.search.training.fit import EpochMetrics, train
    from mnist_hpo.search.training.model import build_model, make_optimizer
    from mnist_hpo.search.training.pipeline import make_augmenter
    from mnist_hpo.spaces import resolve_config

    split = split_mnist(load_mnist(args.data), validation=2000, subset=args.images)
    base = resolve_config(json.loads(args.config))
    x, xv = scale_images(split.x_train), scale_images(split.x_val)

    def bare(config: dict[str, Any]) -> float:
        keras.utils.set_random_seed(0)
        net = build_model(config)
        if make_augmenter(config) is not None:
            # The tutorial ported to Keras 3 by hand: stock augmentation layers in the model.
            fill = {"fill_mode": "constant", "fill_value": 0.0}
            net = keras.Sequential([
                keras.Input((28, 28, 1)),
                keras.layers.RandomRotation(config["rotation"] / 360, **fill),
                keras.layers.RandomZoom(config["zoom"], **fill),
                keras.layers.RandomTranslation(config["height_shift"], config["width_shift"],
                                               **fill),
                net])
            net.compile(optimizer=make_optimizer(config),
                        loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochMetrics(len(x))
        net.fit(x, split.y_train, batch_size=config["batch_size"], epochs=args.epochs,
                validation_data=(xv, split.y_val), callbacks=[timer], verbose=0)
        return statistics.median(r["images_per_second"] for r in timer.rows[1:])

    def ours(config: dict[str, Any], spe: int) -> float:
        rows = train(config, split, epochs=args.epochs, steps_per_execution=spe).history
        return statistics.median(r["images_per_second"] for r in rows[1:])

    results: dict[str, dict[str, list[float]]] = {}
    for augment in (False, True):
        config = base if augment else base | {"rotation": 0.0, "zoom": 0.0,
                                               "width_shift": 0.0, "height_shift": 0.0}
        label = "augmented" if augment else "no augmentation"
        runs: dict[str, list[float]] = {"bare keras fit": [], "mnist-hpo (spe 1)": [],
                                        "mnist-hpo": []}
        for _ in range(args.repeats):
            runs["bare keras fit"].append(bare(config))
            runs["mnist-hpo (spe 1)"].append(ours(config, 1))
            runs["mnist-hpo"].append(ours(config, 8))
        results[label] = runs

    print(f"\nTraining throughput, images/s (median over {args.repeats} run(s) × "
          f"{args.epochs - 1} timed epoch(s)); {args.images:,} images, batch "
          f"{base['batch_size']}, {args.threads} threads, {platform.processor() or 'cpu'}")
    print(f"{'case':<17} {'bare keras fit':>15} {'mnist-hpo spe1':>15} {'mnist-hpo':>10} "
          f"{'ratio':>6}")
    summary: dict[str, Any] = {}
    for label, runs in results.items():
        med = {k: statistics.median(v) for k, v in runs.items()}
        ratio = med["mnist-hpo"] / med["bare keras fit"]
        summary[label] = {"images_per_second": med, "runs": runs, "ratio": ratio}
        print(f"{label:<17} {med['bare keras fit']:>15,.0f} {med['mnist-hpo (spe 1)']:>15,.0f} "
              f"{med['mnist-hpo']:>10,.0f} {ratio:>6.2f}")
    print("ratio = mnist-hpo / bare keras fit (goal >= 0.95)")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "cpus": os.cpu_count(),
                               "results": summary}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
