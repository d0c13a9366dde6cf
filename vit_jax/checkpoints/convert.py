"""Conversion of a published checkpoint into a converted checkpoint (converted.py): read it with
its format's reader (formats/), check every array against the model, adapt the head and the
position embedding (paper section 3.2) and save it with its metadata. The convert_checkpoint
command is the command-line face of `convert`.
"""

import dataclasses
import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flax import traverse_util

from vit_jax import checkpoints
from vit_jax.checkpoints.formats import (
    big_vision,
    bit_npz,
    hf_vit,
    timm_bit,
    timm_vit,
    torch_resnet,
    torchvision_vit,
    vit_npz,
)
from vit_jax.checkpoints.formats.described import check_agrees, described_model
from vit_jax.checkpoints.formats.detect import OpenedCheckpoint, open_checkpoint
from vit_jax.checkpoints.formats.fit import check_fits, expected_shapes
from vit_jax.checkpoints.formats.source import ConversionError, NoHeadError, SourceCheckpoint
from vit_jax.models import MODEL_NAMES

READERS: dict[str, Callable[..., SourceCheckpoint]] = {
    "vit_npz": vit_npz.read,
    "bit_npz": bit_npz.read,
    "hf_vit": hf_vit.read,
    "hf_resnet": torch_resnet.read,
    "torchvision_resnet": torch_resnet.read,
    "timm_vit": timm_vit.read,
    "torchvision_vit": torchvision_vit.read,
    "big_vision": big_vision.read,
    "timm_bit": timm_bit.read,
}
# Resolution recorded for CNN checkpoints, whose weights do not fix one (ImageNet training size).
DEFAULT_CNN_IMAGE_SIZE = (224, 224)
HEAD = ("params/head/kernel", "params/head/bias")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def source_image_size(*, source: SourceCheckpoint, model: str) -> tuple[int, int]:
    """The training resolution of the source: stated by the file, else read off a square
    position-embedding grid, else (CNNs) DEFAULT_CNN_IMAGE_SIZE."""
    if source.image_size is not None:
        return source.image_size
    cell = checkpoints.grid_cell(model=model, overrides=source.model_overrides)
    pos_embedding = source.variables.get("params/" + "/".join(checkpoints.POS_EMBEDDING))
    if cell is None or pos_embedding is None:
        return DEFAULT_CNN_IMAGE_SIZE
    rows = pos_embedding.shape[1] - checkpoints.class_token_rows(source.model_overrides)
    side = math.isqrt(rows)
    if side * side != rows:
        raise ConversionError(
            f"{source.weights_file}: the position embedding has {rows} "
            "patch rows, not a square grid, so its image size is unknown"
        )
    return side * cell, side * cell


def _model(
    *, opened: OpenedCheckpoint, model: str | None, input: Path
) -> tuple[str, dict[str, Any]]:
    """(model, size overrides): `model` when given (checked against what the file's config
    describes), else the described model."""
    described = described_model(opened)
    if model is None:
        if described is None:
            raise ConversionError(
                f"{input} does not say which model it holds; give --model NAME "
                f"({', '.join(MODEL_NAMES)})"
            )
        return described
    if described is not None:
        check_agrees(model=model, described=described, file=opened.weights_file.parent)
    return model, {}


def convert(
    *,
    input: Path,
    model: str | None,
    output: Path,
    num_classes: int | None = None,
    image_size: tuple[int, int] | None = None,
    keep_head: bool = False,
    format: str | None = None,
    overwrite: bool = False,
    source_address: str | None = None,
) -> dict[str, Any]:
    """Converts `input` for `model` and writes the checkpoint to `output`; returns its metadata.
    `model` None: the model the checkpoint's config describes (described.py). `source_address`
    (the hf:// or URL `input` was downloaded from) is recorded beside it."""
    if model is not None and model not in MODEL_NAMES:
        raise ConversionError(f"unknown model {model!r}; valid names: {', '.join(MODEL_NAMES)}")
    if not keep_head and num_classes is None:
        raise ConversionError("give --num_classes N (new zero-initialised head) or --keep_head")
    checkpoints.check_output_directory(directory=Path(output), overwrite=overwrite)
    opened: OpenedCheckpoint = open_checkpoint(path=Path(input), format=format)
    model, size_overrides = _model(opened=opened, model=model, input=input)
    source = READERS[opened.format](opened=opened, model=model)
    source = dataclasses.replace(
        source, model_overrides={**source.model_overrides, **size_overrides}
    )
    file, head = source.weights_file, source.variables.get(HEAD[0])
    file_classes = None if head is None else int(head.shape[-1])
    if keep_head and file_classes is None:
        raise NoHeadError(f"{file} has no classification head to keep; give --num_classes")
    if keep_head and num_classes not in (None, file_classes):
        raise ConversionError(
            f"{file} has a {file_classes}-class head; --keep_head cannot give {num_classes}"
        )
    size = source_image_size(source=source, model=model)
    expected = expected_shapes(
        model=model,
        num_classes=file_classes or 1,
        image_size=size,
        overrides=source.model_overrides,
    )
    check_fits(
        variables=source.variables,
        expected=expected,
        source_names=source.source_names,
        file=file,
        model=model,
        may_lack=frozenset(HEAD if head is None else ()),
    )
    metadata = {
        "model": model,
        "source_format": source.format,
        "source_file": str(file.absolute()),
        "sha256": sha256_of(file),
        **({"source_address": source_address} if source_address else {}),
        "image_size": list(size),
        "num_classes": file_classes,
        "head_kept": True,
        "label_names": source.label_names,
        "preprocessing": source.preprocessing,
        "model_overrides": source.model_overrides,
    }
    headless = head is None and "params/pre_logits/kernel" not in source.variables
    variables, metadata = checkpoints.adapt(
        variables=traverse_util.unflatten_dict(source.variables, sep="/"),
        metadata=metadata,
        num_classes=None if keep_head else num_classes,
        image_size=image_size,
        head_in_features=expected[HEAD[0]][0] if headless else None,
    )
    if keep_head and not np.any(head):
        print(f"warning: the head in {file} is all zeros (as released for ImageNet-21k ViT)")
    num_arrays = len(source.variables)
    source.variables.clear()
    checkpoints.save(
        directory=Path(output),
        variables=checkpoints.hand_over_to_jax(variables),
        metadata=metadata,
        overwrite=overwrite,
    )
    print(
        f"converted {file} ({source.format}, {num_arrays} arrays) for {model} "
        f"at {metadata['image_size'][0]}x{metadata['image_size'][1]}, "
        f"{'kept' if keep_head else 'new zero'} {metadata['num_classes']}-class head -> {output}"
    )
    return metadata
