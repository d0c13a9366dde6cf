"""What every format reader returns, and the error raised for a checkpoint that cannot be used."""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np


class ConversionError(ValueError):
    """A checkpoint that cannot be converted; the message names the file, key or value at fault."""


class UnreadableFileError(ConversionError):
    """The weight file itself cannot be read (truncated, corrupt, or not a weight file)."""


class NoHeadError(ConversionError):
    """The head was to be kept, but the checkpoint has none (a backbone-only release)."""


@dataclasses.dataclass(frozen=True)
class SourceCheckpoint:
    """A checkpoint read into vit_jax names, before any head or position-embedding change.

    `variables` maps '/'-joined paths ('params/head/kernel', 'batch_stats/bn_root/mean') to
    float32 arrays; `source_names` maps the same paths to the key each array had in the file.
    `image_size` is the resolution the file was trained at (None: infer from the position
    embedding). `label_names` lists the classes of the file's head when they are known.
    """

    format: str
    weights_file: Path
    variables: dict[str, np.ndarray]
    source_names: dict[str, str]
    image_size: tuple[int, int] | None
    model_overrides: dict[str, Any]
    preprocessing: dict[str, Any]
    label_names: list[str] | None = None


def as_float32(*, array: np.ndarray, key: str, file: Path) -> np.ndarray:
    """`array` as float32 (a no-copy view when it already is; other floats are rounded).
    Refuses NaN and infinite values, and values beyond float32's range, naming the array."""
    if not np.issubdtype(array.dtype, np.floating):
        raise ConversionError(f"{file}: {key!r} has dtype {array.dtype}, expected floating point")
    with np.errstate(over="ignore"):
        converted = np.asarray(array, dtype=np.float32)
    finite = np.isfinite(converted)
    if not finite.all():
        if np.isfinite(array).all():
            raise ConversionError(
                f"{file}: {key!r} has values beyond float32's range (largest magnitude "
                f"{float(np.abs(array).max()):.3g}); the weights cannot be used in float32"
            )
        raise ConversionError(
            f"{file}: {key!r} holds {int(finite.size - finite.sum())} NaN or infinite value(s); "
            "the checkpoint is damaged (download it again)"
        )
    return converted


def collect(
    *, entries: list[tuple[str, str, np.ndarray]], file: Path
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(variables, source_names) from (vit_jax path, key in the file, array) triples.

    Arrays become float32; two file keys for one vit_jax path (e.g. old and new Hugging Face
    names side by side) are an error.
    """
    variables: dict[str, np.ndarray] = {}
    source_names: dict[str, str] = {}
    for path, key, array in entries:
        if path in variables:
            raise ConversionError(f"{file}: {source_names[path]!r} and {key!r} both give {path}")
        variables[path] = as_float32(array=array, key=key, file=file)
        source_names[path] = key
    return variables, source_names


def reject_unknown_keys(*, keys: list[str], file: Path, format: str) -> None:
    """Raises for keys that the format does not define (nothing is silently dropped)."""
    if keys:
        raise ConversionError(
            f"{file} has {len(keys)} key(s) that a {format} checkpoint does not have: "
            f"{sorted(keys)[:5]}"
        )


def drop_leading_ones(array: np.ndarray, *, ndim: int) -> np.ndarray:
    """`array` without leading size-1 axes beyond `ndim` axes ((1, 1, 1, C) -> (C,)); any other
    shape is returned unchanged for the shape check to report."""
    extra = array.ndim - ndim
    if extra > 0 and array.shape[:extra] == (1,) * extra:
        return array.reshape(array.shape[extra:])
    return array
