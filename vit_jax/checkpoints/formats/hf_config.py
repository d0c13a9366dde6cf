"""Facts taken from Hugging Face config.json / preprocessor_config.json files."""

import re
from collections.abc import Sequence
from typing import Any

from vit_jax.checkpoints.formats.source import ConversionError

# PIL resampling codes as stored in preprocessor_config.json "resample".
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_PLACEHOLDER_LABEL = re.compile(r"LABEL_\d+")


def require(config: dict[str, Any], field: str, *, file: str, kind: type | None = None) -> Any:
    """config[field], or an error naming the file and the missing field; with `kind` int the
    value must be a positive whole number, with `kind` str a string."""
    if field not in config:
        raise ConversionError(f"{file} has no {field!r} field")
    value = config[field]
    if kind is int and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ConversionError(f"{file}: {field} {value!r} is not a positive whole number")
    if kind is str and not isinstance(value, str):
        raise ConversionError(f"{file}: {field} {value!r} is not a string")
    return value


def label_names(config: dict[str, Any] | None, *, file: str) -> list[str] | None:
    """Class names from config id2label in index order; None when absent or only 'LABEL_<i>'."""
    id2label = (config or {}).get("id2label")
    if not id2label:
        return None
    if not isinstance(id2label, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in id2label.items()
    ):
        raise ConversionError(
            f'{file}: id2label must map class indices ("0", "1", ...) to names (strings)'
        )
    names = [id2label[k] for k in sorted(id2label, key=int)]
    if all(_PLACEHOLDER_LABEL.fullmatch(name) for name in names):
        return None
    return names


def preprocessing(
    preprocessor_config: dict[str, Any] | None,
    *,
    default_mean: Sequence[float],
    default_std: Sequence[float],
    default_resize: str = "bilinear",
    file: str = "preprocessor_config.json",
) -> dict[str, Any]:
    """The metadata `preprocessing` (vit_jax.data.preprocessing) that reproduces the image
    processor of preprocessor_config.json, else the defaults: image_mean, image_std,
    do_normalize, resample, and the geometry: ConvNext's (size.shortest_edge below 384: resize the
    shorter edge to int(shortest_edge / crop_pct), crop shortest_edge; from 384: straight resize),
    BiT's and CLIP's (size.shortest_edge, then crop_size when do_center_crop; without a crop,
    the shorter edge's square, so the model gets its square input), ViT's (size height x width:
    straight resize). Hugging Face centres a crop at offset floor(diff / 2)."""
    config = preprocessor_config or {}
    mean, std = config.get("image_mean", default_mean), config.get("image_std", default_std)
    if not config.get("do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    resample = config.get("resample", default_resize)
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "resize_method": PIL_RESAMPLE.get(resample, resample),
        **_geometry(config, file=file),
    }


def _geometry(config: dict[str, Any], *, file: str) -> dict[str, Any]:
    kind = str(config.get("image_processor_type") or config.get("feature_extractor_type") or "")
    convnext = "ConvNext" in kind or (not kind and "crop_pct" in config)
    size = config.get("size")
    # An old file's "size": N is ConvNext's shortest edge, and ViT's height and width.
    edge = size.get("shortest_edge") if isinstance(size, dict) else size if convnext else None
    if edge is None or not config.get("do_resize", True):
        return {}
    if not _whole(edge):
        raise ConversionError(f"{file}: size.shortest_edge {edge!r} is not a positive whole number")
    if convnext:
        crop_pct = config.get("crop_pct", 224 / 256)
        if not (isinstance(crop_pct, int | float) and 0 < crop_pct <= 1):
            raise ConversionError(f"{file}: crop_pct {crop_pct!r} is not in (0, 1]")
        if edge >= 384:  # ConvNext's rule: from 384 up, a straight resize
            return {}
        crop_size, edge = edge, int(edge / crop_pct)
    else:
        crop_size = config.get("crop_size") if config.get("do_center_crop") else edge
        crop_size = crop_size.get("height") if isinstance(crop_size, dict) else crop_size
        if not (_whole(crop_size) and crop_size <= edge):
            raise ConversionError(
                f"{file}: crop_size {crop_size!r} is not a whole number up to the shortest edge "
                f"{edge} (a crop with padding is not supported)"
            )
    return {"resize_shortest_edge": edge, "crop_size": crop_size, "crop_offset": "floor"}


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
