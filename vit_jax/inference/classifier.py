"""A converted checkpoint ready to use: the model rebuilt from its metadata, its variables, the
preprocessing its weights expect and its class names, with one compiled function per use for
every batch (the last one padded). This is the Python API (`vit_jax.Classifier`) and what
predict, evaluate, fewshot and inspect run on.

    clf = vit_jax.Classifier.load("runs/quickstart/export/final")
    clf.predict(["a.jpg"], top_k=3)   # [[("sneaker", 0.91), ("loafer", 0.06), ...]]
    clf.features(["a.jpg"])           # the classification head's input, (1, D) float32
    clf.attention(["a.jpg"])          # a ViT's attention weights per encoder block, patch grid
"""

import functools
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from vit_jax import checkpoints, models
from vit_jax.checkpoints import named
from vit_jax.data.preprocessing import (
    DECODE_ERRORS,
    decode_rgb,
    model_pixels,
    normalise,
    parse_preprocessing,
)
from vit_jax.models.vit import VisionTransformer

Image = str | Path | bytes | np.ndarray  # a file, encoded bytes, or uint8 (H, W, 3) pixels


class Classifier:
    """Probabilities, logits and features of a converted checkpoint for batches of images."""

    def __init__(self, *, checkpoint: Path | str, batch_size: int = 32):
        """`checkpoint` is a converted checkpoint's folder (see `load` for names and files)."""
        loaded = checkpoints.load(directory=checkpoint)
        meta = loaded.metadata
        self.checkpoint = Path(checkpoint)
        self.metadata = meta
        self.batch_size = batch_size
        self.image_size = tuple(meta["image_size"])
        self.class_names = list(meta.get("label_names") or map(str, range(meta["num_classes"])))
        self._normalisation = parse_preprocessing(preprocessing=meta["preprocessing"])
        self.model = model = checkpoints.create_model(metadata=meta)
        self.variables = jax.device_put(loaded.variables)
        self._probabilities = jax.jit(
            lambda variables, images: jax.nn.softmax(model.apply(variables, images, train=False))
        )
        self._logits = jax.jit(functools.partial(model.apply, train=False))
        self._features = models.head_input_fn(model)
        self._attention = models.attention_weights_fn(model)

    @classmethod
    def load(
        cls, checkpoint: Path | str, *, model: str | None = None, batch_size: int = 32
    ) -> "Classifier":
        """`checkpoint` as resolve_checkpoint takes it."""
        return cls(checkpoint=resolve_checkpoint(checkpoint, model=model), batch_size=batch_size)

    def pixels(self, image: bytes | np.ndarray) -> np.ndarray:
        """Encoded bytes or a uint8 (H, W, 3) array -> uint8 RGB at the model's image size."""
        return model_pixels(
            image=decode_rgb(image=image), size=self.image_size, normalisation=self._normalisation
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

    def batch_features(self, images: np.ndarray) -> jax.Array:
        """Head inputs for a batch of preprocessed images (any batch size; one compilation per
        size)."""
        return self._features(self.variables, images)

    def start(self, images: list[np.ndarray]) -> jax.Array:
        """Dispatches one batch (at most batch_size preprocessed images, padded to batch_size so
        that every call reuses one compilation); returns the padded probabilities."""
        return self.run(self.padded(images))

    def padded(self, images: list[np.ndarray]) -> np.ndarray:
        """At most batch_size preprocessed images as one float32 batch padded with zeros."""
        batch = np.zeros((self.batch_size, *self.image_size, 3), np.float32)
        batch[: len(images)] = np.stack(images)
        return batch

    def _apply(self, function, images: Sequence[Image]) -> np.ndarray:
        """`function(variables, batch)` over `images` in padded batches, concatenated."""
        inputs = [self._input(image) for image in images]
        outputs = [
            np.asarray(function(self.variables, self.padded(inputs[i : i + self.batch_size])))[
                : len(inputs[i : i + self.batch_size])
            ]
            for i in range(0, len(inputs), self.batch_size)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)

    def _input(self, image: Image) -> np.ndarray:
        """The model's input for one image; ValueError naming the file that cannot be used."""
        if not isinstance(image, str | Path):
            return self.preprocess(image)
        try:
            return self.preprocess(Path(image).read_bytes())
        except DECODE_ERRORS as error:
            reason = getattr(error, "strerror", None) or error
            raise ValueError(f"{image}: {reason}") from error

    def probabilities(self, images: Sequence[Image]) -> np.ndarray:
        """(N, classes) softmax probabilities of image files, encoded bytes or uint8 arrays."""
        return self._apply(self._probabilities, images)

    def logits(self, images: Sequence[Image]) -> np.ndarray:
        """(N, classes) logits of image files, encoded bytes or uint8 arrays."""
        return self._apply(self._logits, images)

    def features(self, images: Sequence[Image]) -> np.ndarray:
        """(N, D) inputs of the classification head (the representation few-shot evaluation
        uses: a ViT's final class token or pre-logits, a ResNet's pooled features)."""
        return self._apply(self._features, images)

    def batch_attention(self, images: np.ndarray) -> tuple[list[np.ndarray], tuple[int, int]]:
        """A ViT's attention weights softmax(q k^T) per encoder block, (batch, heads, tokens,
        tokens) float64 with token 0 the class token, and the (rows, columns) grid of patch
        tokens, for a batch of preprocessed images."""
        if not isinstance(self.model, VisionTransformer):
            raise ValueError(f"{self.metadata['model']} has no attention weights (not a ViT)")
        return self._attention(self.variables, images)

    def attention(self, images: Sequence[Image]) -> tuple[list[np.ndarray], tuple[int, int]]:
        """`batch_attention` of image files, encoded bytes or uint8 arrays (the pictures of
        the paper's section 4.5: vit_jax.analysis.attention_maps)."""
        inputs = [self._input(image) for image in images]
        blocks, grid = [], None
        for i in range(0, len(inputs), self.batch_size):
            chunk = inputs[i : i + self.batch_size]
            weights, grid = self.batch_attention(self.padded(chunk))
            blocks.append([w[: len(chunk)] for w in weights])
        return [np.concatenate(block) for block in zip(*blocks, strict=True)], grid

    def predict(self, images: Sequence[Image], *, top_k: int = 1) -> list[list[tuple[str, float]]]:
        """Per image, its `top_k` (class name, probability) pairs, most probable first."""
        top_k = min(top_k, len(self.class_names))
        result = []
        for row in self.probabilities(images):
            ranked = np.argsort(-row, kind="stable")[:top_k]
            result.append([(self.class_names[i], float(row[i])) for i in ranked])
        return result


def resolve_checkpoint(checkpoint: Path | str, *, model: str | None = None) -> Path:
    """The converted checkpoint's folder for `checkpoint`: such a folder itself, a checkpoint
    name (README's table), or, with `model` (a vit_jax.models.MODEL_NAMES name), an
    hf://ORG/NAME, a URL or a downloaded file or folder in any format convert_checkpoint reads,
    converted into $VIT_JAX_CACHE once."""
    spec = str(checkpoint)
    if (Path(spec) / checkpoints.METADATA_FILE).is_file():
        return Path(spec)
    if not (named.is_named(spec) or Path(spec).exists()):
        checkpoints.check_present(directory=spec)  # names the commands that make one
    model = model or named.named_model(spec)
    if model is None:
        raise ValueError(
            f"{spec} is not a converted checkpoint; to convert it once, name its model (one of "
            f"{', '.join(models.MODEL_NAMES)}), or convert it with python -m "
            "vit_jax.convert_checkpoint"
        )
    return named.local_checkpoint(spec=spec, model=model)
