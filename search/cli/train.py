"""``mnist-hpo train``: train one configuration, the tutorial as a command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mnist_hpo.search.cli.args import add_data_options, positive_int
from mnist_hpo.search.errors import UsageError
from mnist_hpo.spaces import load_space, resolve_config


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train one configuration and evaluate it on the test set",
        description="Train one configuration (default: the tutorial's CNN, --space seed), print "
                    "one line per epoch, save model.keras, history.json, config.json and "
                    "metrics.json, and evaluate once on the test set.")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--space", metavar="NAME|FILE",
                       help="a space whose parameters are all fixed (default: seed)")
    which.add_argument("--config", metavar="FILE|JSON",
                       help="a configuration as a JSON/YAML file or inline JSON; keys left out "
                            "take the seed's values")
    p.add_argument("--epochs", type=positive_int,
                   help="epochs (default: the space's, 5 for the seed)")
    add_data_options(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=positive_int, help="TensorFlow CPU threads (default: all)")
    p.add_argument("--out", metavar="DIR",
                   help="new folder for the outputs (default: runs/train-NAME-TIMESTAMP)")
    p.set_defaults(run=run)


def read_config(text: str) -> tuple[str, dict[str, Any]]:
    """``--config`` value → (name for messages, resolved configuration)."""
    if text.lstrip().startswith("{"):
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"--config: not valid JSON ({err.msg} at column {err.colno})"
                             ) from None
        return "config", resolve_config(raw, source="--config")
    path = Path(text)
    try:
        body = path.read_text()
    except OSError as err:
        raise UsageError(f"--config {path}: cannot read it ({err.strerror}); give a JSON/YAML "
                         f"file or inline JSON such as '{{\"optimizer\": \"sgd\"}}'") from None
    try:
        raw = json.loads(body) if path.suffix == ".json" else yaml.safe_load(body)
    except (json.JSONDecodeError, yaml.YAMLError):
        kind = path.suffix.lstrip(".") or "YAML"
        raise UsageError(f"--config {path}: not valid {kind}") from None
    return path.stem, resolve_config(raw, source=f"--config {path}")


def _choose(args: argparse.Namespace) -> tuple[str, dict[str, Any], int]:
    if args.config is not None:
        name, config = read_config(args.config)
        return name, config, args.epochs or 5
    space = load_space(args.space or "seed")
    fixed = space.fixed_config()
    if fixed is None:
        varied = ", ".join(space.searched[:3]) + (", ..." if len(space.searched) > 3 else "")
        raise UsageError(f"--space {args.space}: samples {varied}; train "
                         f"needs one fixed configuration: pick one with `mnist-hpo spaces "
                         f"sample {args.space}` and pass it as --config")
    return space.name, resolve_config(fixed, source=space.source), args.epochs or space.epochs


def run(args: argparse.Namespace) -> int:
    name, config, epochs = _choose(args)

    from mnist_hpo.search.training.runtime import prepare_tensorflow, set_threads

    prepare_tensorflow()
    set_threads(args.threads)
    from mnist_hpo.search.outputs import claim_out_dir, versions, write_json
    from mnist_hpo.search.training.data import load_mnist, split_mnist

    data = load_mnist(args.data)
    split = split_mnist(data, validation=args.validation, subset=args.subset, seed=args.seed)
    out = claim_out_dir(args.out or f"runs/train-{name}-{time.strftime('%Y%m%d-%H%M%S')}")

    from mnist_hpo.search.training.divergence import DivergedError
    from mnist_hpo.search.training.fit import evaluate, train

    n_train, n_val = len(split.x_train), len(split.x_val)
    print(f"Training {name}: {n_train:,} training and {n_val:,} validation images from "
          f"{data.source}, {epochs} epochs, batch {config['batch_size']}, seed {args.seed}")
    steps = -(-n_train // int(config["batch_size"]))
    bar = [_epoch_bar(steps, epochs)] if sys.stdout.isatty() else []  # plain lines otherwise
    try:
        result = train(config, split, epochs=epochs, seed=args.seed, callbacks=bar,
                       on_epoch=_print_epoch(epochs))
    except DivergedError as err:
        out.rmdir()  # claimed empty above, still empty: leave nothing behind
        print(f"mnist-hpo train: FAILED: {err}; nothing was saved. A smaller learning_rate "
              f"usually fixes it.", file=sys.stderr)
        return 1
    test = evaluate(result.model, split.x_test, split.y_test)
    print(f"test_accuracy {test['accuracy']:.4f}  test_loss {test['loss']:.4f}  "
          f"({len(split.x_test):,} test images, evaluated once)")

    result.model.save(out / "model.keras")
    write_json(out / "config.json", config)
    write_json(out / "history.json", result.history)
    best = max(result.history, key=lambda r: r["val_accuracy"])
    write_json(out / "metrics.json", {
        "test_accuracy": test["accuracy"], "test_loss": test["loss"],
        "best_val_accuracy": best["val_accuracy"], "best_epoch": best["epoch"],
        "epochs": epochs, "seed": args.seed, "seconds": result.seconds,
        "data": {"source": data.source, "sha256": data.sha256, "train_images": n_train,
                 "validation_images": n_val, "test_images": len(split.x_test)},
        "versions": versions(), "command": sys.argv,
    })
    print(f"Saved {out}/: model.keras, config.json, history.json, metrics.json")
    return 0


def _print_epoch(epochs: int) -> Any:
    def show(row: dict[str, float]) -> None:
        print(f"epoch {int(row['epoch'])}/{epochs}  loss {row['loss']:.4f}  "
              f"accuracy {row['accuracy']:.4f}  val_loss {row['val_loss']:.4f}  "
              f"val_accuracy {row['val_accuracy']:.4f}  {row['seconds']:.1f} s  "
              f"{row['images_per_second']:,.0f} images/s", flush=True)
    return show


def _epoch_bar(steps: int, epochs: int) -> Any:
    """A progress bar within each epoch (rich), removed when the epoch's line is printed."""
    import keras
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    class EpochBar(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.bar: Progress | None = None
            self.task: Any = None

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.bar = Progress(TextColumn(f"epoch {epoch + 1}/{epochs}"), BarColumn(),
                                MofNCompleteColumn(), TextColumn("{task.fields[metrics]}"),
                                TimeRemainingColumn(), transient=True)
            self.task = self.bar.add_task("train", total=steps, metrics="")
            self.bar.start()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if self.bar is not None:
                logs = logs or {}
                metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in ("loss", "accuracy")
                                    if k in logs)
                self.bar.update(self.task, completed=min(batch + 1, steps), metrics=metrics)

        def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
            if self.bar is not None:  # validation: the bar has done its work
                self.bar.stop()
                self.bar = None

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self.on_test_begin()

    return EpochBar()
