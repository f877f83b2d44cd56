"""One configuration, trained: MNIST loading and splitting, the input pipeline and its
augmentation, the model builder, the training loop and its divergence check, TensorFlow's
runtime settings. Nothing here knows Ray.

Importing this package is cheap: the TensorFlow-backed names (``build_model``, ``train``,
``evaluate``) load on first use, so reading data never starts TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mnist_hpo.search.training.data import (
    MnistData,
    Split,
    load_mnist,
    recorded_split,
    resolve_source,
    scale_images,
    split_mnist,
)

if TYPE_CHECKING:
    from mnist_hpo.search.training.fit import TrainResult, evaluate, train
    from mnist_hpo.search.training.model import build_model

_LAZY = {"build_model": "mnist_hpo.search.training.model",
         "train": "mnist_hpo.search.training.fit", "evaluate": "mnist_hpo.search.training.fit",
         "TrainResult": "mnist_hpo.search.training.fit"}

__all__ = ["MnistData", "Split", "TrainResult", "build_model", "evaluate", "load_mnist",
           "recorded_split", "resolve_source", "scale_images", "split_mnist", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
