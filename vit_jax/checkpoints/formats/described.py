"""The model a checkpoint's own config describes: a Hugging Face config.json's sizes (ViT:
hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, patch_size; ResNet:
depths) or a timm hub folder's `architecture` (vit_base_patch16_224, resnet50, ...), as a model
zoo name plus the size overrides of a model the zoo does not name (a small ViT of this project's
Hugging Face export). convert_checkpoint uses it when --model is left out, and to refuse a
--model that contradicts the file.
"""

import re
from typing import Any

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_config import require
from vit_jax.checkpoints.formats.source import ConversionError
from vit_jax.models import MODEL_NAMES, architecture, label

# Fields that say what size a model is, per family.
VIT_SIZES = ("patches", "hidden_size", "mlp_dim", "num_heads", "num_layers")
TIMM_VIT = re.compile(r"vit_(tiny|small|base|large|huge)_patch(\d+)_\d+")
TIMM_SIZES = {"tiny": "Ti", "small": "S", "base": "B", "large": "L", "huge": "H"}
TIMM_RESNET = re.compile(r"resnet(\d+)")
TIMM_BIT = re.compile(r"resnetv2_(\d+)x1_bit")


def described_model(opened: OpenedCheckpoint) -> tuple[str, dict[str, Any]] | None:
    """(model zoo name, size overrides) that the checkpoint's config states, or None when the
    checkpoint has no config that states one."""
    config, file = opened.config, str(opened.weights_file.parent / "config.json")
    if config is None:
        return None
    if "architecture" in config:  # a timm hub folder
        return _timm(str(config["architecture"]), file=file)
    if opened.format == "hf_vit":
        return _hf_vit(config, file=file)
    if opened.format == "hf_resnet":
        return _hf_resnet(config, file=file)
    return None


def sizes(model: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The size fields of `model` with `overrides` (what must agree between file and model)."""
    fields = architecture(model) | overrides
    keys = VIT_SIZES if "patches" in fields else ("num_layers",)
    return {key: tuple(v) if isinstance(v, list) else v for key, v in fields.items() if key in keys}


def check_agrees(*, model: str, described: tuple[str, dict[str, Any]], file) -> None:
    """ConversionError when --model `model` is not the model the file's config describes."""
    if sizes(model, {}) != sizes(*described):
        raise ConversionError(
            f"{file}'s config describes {label(described[0], overrides=described[1])}, not "
            f"--model {model}; leave --model out to convert it as described"
        )


def _hf_vit(config: dict[str, Any], *, file: str) -> tuple[str, dict[str, Any]]:
    patch = require(config, "patch_size", file=file, kind=int)
    wanted = {
        "patches": (patch, patch),
        "hidden_size": require(config, "hidden_size", file=file, kind=int),
        "mlp_dim": require(config, "intermediate_size", file=file, kind=int),
        "num_heads": require(config, "num_attention_heads", file=file, kind=int),
        "num_layers": require(config, "num_hidden_layers", file=file, kind=int),
    }
    vits = [name for name in MODEL_NAMES if name.startswith("ViT-")]
    for name in vits:
        if sizes(name, {}) == wanted:
            return name, {}
    same_patch = [name for name in vits if architecture(name)["patches"] == (patch, patch)]
    base = (same_patch or vits)[0]
    return base, {key: v for key, v in wanted.items() if sizes(base, {})[key] != v}


def _hf_resnet(config: dict[str, Any], *, file: str) -> tuple[str, dict[str, Any]]:
    depths = tuple(require(config, "depths", file=file))
    if config.get("layer_type", "bottleneck") != "bottleneck":
        raise ConversionError(f"{file}: layer_type {config['layer_type']!r} is not bottleneck")
    for name in MODEL_NAMES:
        if name.startswith("ResNet-") and architecture(name)["num_layers"] == depths:
            return name, {}
    raise ConversionError(f"{file}: a ResNet with depths {list(depths)} is not in the model zoo")


def _timm(name: str, *, file: str) -> tuple[str, dict[str, Any]]:
    if m := TIMM_VIT.fullmatch(name):
        model = f"ViT-{TIMM_SIZES[m[1]]}_{m[2]}"
    elif m := TIMM_RESNET.fullmatch(name):
        model = f"ResNet-{m[1]}"
    elif m := TIMM_BIT.fullmatch(name):
        model = f"BiT-R{m[1]}x1"
    else:
        model = None
    if model not in MODEL_NAMES:
        raise ConversionError(f"{file}: timm architecture {name!r} is not in the model zoo")
    return model, {}
