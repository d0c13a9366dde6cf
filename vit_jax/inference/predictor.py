"""A converted checkpoint ready to classify images: model rebuilt from its metadata, inputs
preprocessed as the weights expect, one compiled function for every batch (the last one is
padded), class probabilities out."""

from pathlib import Path

import jax
import numpy as np

from vit_jax import checkpoints, models
from vit_jax.data.preprocessing import decode_rgb, normalise, parse_preprocessing, resize


class Predictor:
    """Softmax probabilities of a converted checkpoint's classes for batches of images."""

    def __init__(self, *, checkpoint: Path | str, batch_size: int):
        loaded = checkpoints.load(directory=checkpoint)
        meta = loaded.metadata
        self.metadata = meta
        self.batch_size = batch_size
        self.image_size = tuple(meta["image_size"])
        self.class_names = list(meta.get("label_names") or map(str, range(meta["num_classes"])))
        self._normalisation = parse_preprocessing(preprocessing=meta["preprocessing"])
        self.model = model = models.create_model(
            meta["model"], num_classes=meta["num_classes"], **meta["model_overrides"]
        )
        self.variables = jax.device_put(loaded.variables)
        self._probabilities = jax.jit(
            lambda variables, images: jax.nn.softmax(model.apply(variables, images, train=False))
        )

    def pixels(self, image: bytes | np.ndarray) -> np.ndarray:
        """Encoded bytes or a uint8 (H, W, 3) array -> uint8 RGB at the model's image size."""
        return resize(
            image=decode_rgb(image=image),
            size=self.image_size,
            method=self._normalisation.resize_method,
        )

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels at the model's image size -> the float32 input the model expects."""
        return normalise(pixels=pixels, normalisation=self._normalisation)

    def preprocess(self, image: bytes | np.ndarray) -> np.ndarray:
        """Encoded bytes or a uint8 (H, W, 3) array -> the float32 input the model expects."""
        return self.normalise(self.pixels(image))

    def run(self, images: np.ndarray) -> jax.Array:
        """Probabilities for a full batch of preprocessed images (batch_size, H, W, 3)."""
        return self._probabilities(self.variables, images)

    def start(self, images: list[np.ndarray]) -> jax.Array:
        """Dispatches one batch (at most batch_size preprocessed images, padded to batch_size so
        that every call reuses one compilation); returns the padded probabilities."""
        return self.run(self.padded(images))

    def padded(self, images: list[np.ndarray]) -> np.ndarray:
        """At most batch_size preprocessed images as one float32 batch padded with zeros."""
        batch = np.zeros((self.batch_size, *self.image_size, 3), np.float32)
        batch[: len(images)] = np.stack(images)
        return batch
