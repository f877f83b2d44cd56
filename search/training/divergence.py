"""A diverging configuration fails its training at once, with the reason."""

from __future__ import annotations

import math
from typing import Any

import keras

#: A mean cross-entropy above this cannot come from a network that is learning: chance level
#: on 10 classes is ln 10 ≈ 2.3, a fresh network starts near it. Keras computes the loss
#: from the softmax's logits, so a diverging network reaches 1e4..1e9 before any NaN.
DIVERGED_LOSS = 1000.0


class DivergedError(FloatingPointError):
    """The loss became NaN, infinite or absurdly large: the configuration diverged."""


class StopOnDivergence(keras.callbacks.Callback):  # type: ignore[misc]
    """Raise :class:`DivergedError` as soon as the running training loss diverges.

    Keras' ``TerminateOnNaN`` stops quietly and only on NaN, so a diverged trial would look
    finished; this one fails it, with the epoch and the batch in the message.
    """

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss) or loss > DIVERGED_LOSS:
            raise DivergedError(f"training diverged: loss {loss:.4g} at epoch {self.epoch}, "
                                f"batch {batch + 1} (chance level is 2.3; the limit is "
                                f"{DIVERGED_LOSS:g})")
