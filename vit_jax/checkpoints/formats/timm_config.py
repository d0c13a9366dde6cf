"""Facts taken from a timm hub folder's config.json: the architecture, its classes and the
`pretrained_cfg` with which timm evaluates the weights.

timm's evaluation transform (timm.data.transforms_imagenet_eval, crop_mode "center"): resize the
shorter edge to floor(input_size / crop_pct) with `interpolation`, centre crop input_size
(torchvision's CenterCrop: offset round((size difference) / 2)), normalise with mean/std. With
crop_mode "squash" and crop_pct 1 it is a straight resize to input_size.
"""

import math
from typing import Any

from vit_jax.checkpoints.formats.hf_config import require
from vit_jax.checkpoints.formats.source import ConversionError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
DEFAULT_CROP_PCT = 0.875


def preprocessing(pretrained_cfg: dict[str, Any], *, file: str) -> dict[str, Any]:
    """The metadata `preprocessing` (vit_jax.data.preprocessing) of timm's evaluation transform
    for `pretrained_cfg`; a ConversionError naming `file` and the field for what it cannot
    reproduce."""
    if not isinstance(pretrained_cfg, dict):
        raise ConversionError(f"{file}: pretrained_cfg is not an object")
    input_size = pretrained_cfg.get("input_size", [3, 224, 224])
    if not (
        isinstance(input_size, list | tuple)
        and len(input_size) == 3
        and all(isinstance(v, int) and v > 0 for v in input_size)
        and input_size[1] == input_size[2]
    ):
        raise ConversionError(f"{file}: pretrained_cfg.input_size {input_size!r} is not [3, N, N]")
    size = input_size[1]
    interpolation = pretrained_cfg.get("interpolation") or "bicubic"
    if interpolation not in INTERPOLATIONS:
        raise ConversionError(f"{file}: pretrained_cfg.interpolation {interpolation!r} is unknown")
    crop_pct = pretrained_cfg.get("crop_pct") or DEFAULT_CROP_PCT
    if not (isinstance(crop_pct, int | float) and 0 < crop_pct <= 1):
        raise ConversionError(f"{file}: pretrained_cfg.crop_pct {crop_pct!r} is not in (0, 1]")
    crop_mode = pretrained_cfg.get("crop_mode") or "center"
    mean = pretrained_cfg.get("mean") or (0.485, 0.456, 0.406)
    std = pretrained_cfg.get("std") or (0.229, 0.224, 0.225)
    for name, values in (("mean", mean), ("std", std)):
        if not (isinstance(values, list | tuple) and len(values) == 3):
            raise ConversionError(f"{file}: pretrained_cfg.{name} {values!r} is not 3 numbers")
    result = {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "resize_method": interpolation,
    }
    if crop_mode == "squash" and crop_pct == 1:
        return result
    if crop_mode != "center":
        raise ConversionError(
            f"{file}: pretrained_cfg.crop_mode {crop_mode!r} with crop_pct {crop_pct} is not "
            "supported (center, or squash with crop_pct 1)"
        )
    edge = math.floor(size / crop_pct)
    return result | {"resize_shortest_edge": edge, "crop_size": size, "crop_offset": "round"}


def architecture(config: dict[str, Any], *, file: str) -> str:
    """The timm model name of a hub folder's config.json (e.g. 'vit_base_patch16_224')."""
    return require(config, "architecture", file=file, kind=str)
