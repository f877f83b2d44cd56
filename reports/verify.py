"""Reload an exported model in a fresh process and write its predictions (run by export).

    python -m mnist_hpo.reports.verify EXPORT_DIR IMAGES.npy OUT.npz

Loads ``model.keras`` with plain ``keras.models.load_model`` and the SavedModel with
TensorFlow, as a serving stack would, and predicts the same images with both.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def main(export_dir: str, images: str, out: str) -> None:
    """Predict ``images`` with both reloaded models of ``export_dir``; save them to ``out``."""
    from mnist_hpo.search.training.runtime import start_tensorflow

    # Quiet: export reports this process's last stderr line when a reload fails, and that
    # line must be the reason, not TensorFlow's start-up chatter.
    start_tensorflow()
    import keras
    import tensorflow as tf

    x = np.load(images)
    model = keras.models.load_model(Path(export_dir) / "model.keras", safe_mode=True)
    from_keras = model.predict(x, batch_size=512, verbose=0)
    served = tf.saved_model.load(str(Path(export_dir) / "saved_model"))
    from_saved = np.concatenate([served.serve(tf.constant(x[i:i + 512])).numpy()
                                 for i in range(0, len(x), 512)])
    np.savez(out, keras=from_keras, saved_model=from_saved)


if __name__ == "__main__":
    main(*sys.argv[1:4])
