"""Random rotation, zoom and shifts as one affine resampling, in-graph.

Keras 3 has no ``ImageDataGenerator``. Chaining its ``RandomRotation``, ``RandomZoom`` and
``RandomTranslation`` layers resamples every image three times, and each bilinear resampling
blurs a 28×28 digit a little more, so the network trains on blurrier digits than it is tested
on, at three times the cost. This layer draws the same random parameters the tutorial's
``ImageDataGenerator`` did and applies them as a single transform.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="mnist_hpo")
class RandomAffine(keras.layers.Layer):  # type: ignore[misc]
    """Per image: rotate by ±``rotation`` degrees, zoom each axis by a factor in
    [1 − ``zoom``, 1 + ``zoom``], shift by ±``width_shift``/``height_shift`` of the image
    size; one bilinear resampling, black fill. Identity at inference.

    Args:
        rotation: Largest rotation, in degrees.
        zoom: Largest relative zoom, in or out (0.1: 90 % to 110 %).
        width_shift: Largest horizontal shift, as a fraction of the width.
        height_shift: Largest vertical shift, as a fraction of the height.
        seed: Seeds the random draws.
    """

    def __init__(self, rotation: float = 0.0, zoom: float = 0.0, width_shift: float = 0.0,
                 height_shift: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rotation, self.zoom = rotation, zoom
        self.width_shift, self.height_shift = width_shift, height_shift
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images: Any, training: bool = True) -> Any:
        if not training:
            return images
        shape = ops.shape(images)
        n, height, width = shape[0], shape[1], shape[2]

        def draw(limit: float) -> Any:
            return keras.random.uniform((n,), -limit, limit, seed=self.seed_generator)

        angle = draw(math.radians(self.rotation))
        zoom_x, zoom_y = 1.0 + draw(self.zoom), 1.0 + draw(self.zoom)
        shift_x = draw(self.width_shift) * ops.cast(width, "float32")
        shift_y = draw(self.height_shift) * ops.cast(height, "float32")
        cx = (ops.cast(width, "float32") - 1.0) / 2.0
        cy = (ops.cast(height, "float32") - 1.0) / 2.0
        # Output pixel → input pixel: about the centre, A = R(angle) · diag(zoom_x, zoom_y).
        cos, sin = ops.cos(angle), ops.sin(angle)
        a0, a1 = cos * zoom_x, -sin * zoom_y
        b0, b1 = sin * zoom_x, cos * zoom_y
        a2 = cx - a0 * cx - a1 * cy + shift_x
        b2 = cy - b0 * cx - b1 * cy + shift_y
        zero = ops.zeros_like(angle)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zero, zero], axis=1)
        return ops.image.affine_transform(images, transform, interpolation="bilinear",
                                          fill_mode="constant", fill_value=0.0)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | {  # type: ignore[no-any-return]
            "rotation": self.rotation, "zoom": self.zoom, "width_shift": self.width_shift,
            "height_shift": self.height_shift, "seed": self.seed}
