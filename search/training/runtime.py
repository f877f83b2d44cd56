"""Process-wide TensorFlow settings that must be made before TensorFlow starts."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter (set before ``import tensorflow``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def set_threads(threads: int | None) -> None:
    """Make TensorFlow use ``threads`` CPU threads (``None``: all cores, TF's default).

    Concurrent trials each get their share of the cores this way instead of every
    process spinning one thread per core. TensorFlow fixes its pools when its runtime
    starts, so this must run before the first TensorFlow operation of the process.
    """
    if not threads:
        return
    quiet_tensorflow()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        # The runtime already started in this process (a reused worker); its pools stay.
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            log.warning("TensorFlow already runs with %s intra-op threads; cannot switch to %s "
                        "in this process", current or "default", threads)
