"""The driver: data, model builder, training, Ray Tune + Optuna wiring, and the CLI.

Importing this package is cheap: the TensorFlow-backed names (``build_model``, ``train``,
``evaluate``) are loaded on first use, so ``mnist-hpo spaces`` never starts TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from search.data import MnistData, Split, load_mnist, scale_images, split_mnist
from search.errors import DataError, UsageError

if TYPE_CHECKING:
    from search.model import build_model
    from search.training import TrainResult, evaluate, train

_LAZY = {"build_model": "search.model", "train": "search.training",
         "evaluate": "search.training", "TrainResult": "search.training"}

__all__ = ["DataError", "MnistData", "Split", "TrainResult", "UsageError", "build_model",
           "evaluate", "load_mnist", "scale_images", "split_mnist", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
