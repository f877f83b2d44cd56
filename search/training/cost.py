"""What a trained model costs to keep and to run: parameters, file size, time per image."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

#: Batch sizes timed: one image (an interactive request) and a full batch (throughput).
LATENCY_BATCHES = (1, 256)


def saved_size(model: keras.Model) -> int:
    """Bytes of ``model`` as a ``.keras`` file without an optimizer (what is served)."""
    served = keras.Model(model.inputs, model.outputs, name=model.name)  # not compiled
    with tempfile.TemporaryDirectory(prefix="mnist-hpo-size-") as tmp:
        path = Path(tmp) / "model.keras"
        served.save(path)
        return path.stat().st_size


def latency_ms(model: keras.Model, batch: int, repeats: int = 20,
               images: np.ndarray | None = None) -> float:
    """Median milliseconds per image of ``model.predict_on_batch`` on ``batch`` images
    (a compiled call, as served), over ``repeats`` timed calls after two warm-up calls.

    Args:
        images: float32 ``(N, 28, 28, 1)`` images, cycled to fill the batch; zeros if
            ``None`` (the time does not depend on the pixel values).
    """
    if images is None:
        images = np.zeros((1, 28, 28, 1), np.float32)
    x = images[np.arange(batch) % len(images)]
    for _ in range(2):
        model.predict_on_batch(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / batch


def model_cost(model: keras.Model, repeats: int = 20,
               images: np.ndarray | None = None) -> dict[str, Any]:
    """Parameters, ``.keras`` bytes and ms per image at batch 1 and 256 (medians)."""
    cost: dict[str, Any] = {"params": int(model.count_params()),
                            "file_bytes": saved_size(model)}
    for batch in LATENCY_BATCHES:
        cost[f"latency_ms_batch_{batch}"] = latency_ms(model, batch, repeats, images)
    return cost
