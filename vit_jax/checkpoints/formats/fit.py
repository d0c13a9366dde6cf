"""Checking converted variables against the parameter tree a vit_jax model actually has."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from vit_jax.checkpoints.formats.source import ConversionError
from vit_jax.models import create_model

_SHOWN = 5


def expected_shapes(
    *, model: str, num_classes: int, image_size: tuple[int, int], overrides: Mapping[str, Any]
) -> dict[str, tuple[int, ...]]:
    """{'params/...' | 'batch_stats/...': shape} of `model` at this head size and image size,
    found by tracing its initialisation (jax.eval_shape: no arrays are allocated)."""
    module = create_model(model, num_classes=num_classes, **overrides)
    images = jax.ShapeDtypeStruct((1, *image_size, 3), jnp.float32)

    def init(x: jax.Array) -> Any:
        rng = jax.random.key(0)
        return module.init({"params": rng, "dropout": rng}, x, train=False)

    flat = traverse_util.flatten_dict(jax.eval_shape(init, images), sep="/")
    return {path: tuple(leaf.shape) for path, leaf in flat.items()}


def check_fits(
    *,
    variables: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
    source_names: Mapping[str, str],
    file: Path,
    model: str,
    may_lack: frozenset[str] = frozenset(),
) -> None:
    """Raises ConversionError naming the first mis-shaped, missing or extra arrays, if any.

    `source_names` gives each path's key in `file`; paths in `may_lack` may be absent.
    """
    wrong = [
        f"{source_names.get(p, p)!r} has shape {variables[p].shape}, {model} needs {shape} for {p}"
        for p, shape in expected.items()
        if p in variables and variables[p].shape != shape
    ]
    if wrong:
        raise ConversionError(
            f"{file} does not fit {model} (a different model or size?): {len(wrong)} array(s) "
            f"mis-shaped, e.g. {'; '.join(wrong[:_SHOWN])}"
        )
    missing = sorted(set(expected) - set(variables) - may_lack)
    if missing:
        raise ConversionError(
            f"{file} lacks {len(missing)} array(s) that {model} needs: {missing[:_SHOWN]}"
        )
    extra = sorted(source_names.get(p, p) for p in set(variables) - set(expected))
    if extra:
        raise ConversionError(
            f"{file} has {len(extra)} array(s) that {model} has no place for (a different "
            f"model?): {extra[:_SHOWN]}"
        )
