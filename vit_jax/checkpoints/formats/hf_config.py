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
) -> dict[str, Any]:
    """{"mean", "std", "resize_method"} for images scaled to [0, 1], from preprocessor_config.json
    when there is one (image_mean, image_std, do_normalize, resample), else the defaults."""
    config = preprocessor_config or {}
    mean, std = config.get("image_mean", default_mean), config.get("image_std", default_std)
    if not config.get("do_normalize", True):
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    resample = config.get("resample", default_resize)
    return {
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "resize_method": PIL_RESAMPLE.get(resample, resample),
    }
