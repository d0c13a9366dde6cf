"""Finding the weights of a checkpoint file or folder and telling its format from its keys."""

import dataclasses
from pathlib import Path

import numpy as np

from vit_jax.checkpoints.formats.readers import read_json, read_weights
from vit_jax.checkpoints.formats.source import ConversionError

FORMATS = (
    "vit_npz",
    "bit_npz",
    "hf_vit",
    "hf_resnet",
    "torchvision_resnet",
    "torchvision_vit",
    "timm_vit",
    "big_vision",
)
HF_WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",  # sharded: the index lists the shards
    "pytorch_model.bin.index.json",
)


@dataclasses.dataclass(frozen=True)
class OpenedCheckpoint:
    """The arrays of a weight file, its format and the JSON configs beside it: a Hugging Face
    folder's config.json and preprocessor_config.json, a timm hub folder's config.json (timm's
    holds `architecture` and `pretrained_cfg`)."""

    format: str
    weights_file: Path
    arrays: dict[str, np.ndarray]
    config: dict | None
    preprocessor_config: dict | None


def _weights_in_folder(folder: Path) -> Path:
    for name in HF_WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ConversionError(
        f"{folder} holds none of {', '.join(HF_WEIGHT_FILES)}; give a Hugging Face model folder "
        "or a checkpoint file"
    )


def guess_format(keys: list[str]) -> str | None:
    """The format whose characteristic key names `keys` contain, or None."""
    names = set(keys)
    if any(k.startswith(("params/Transformer/", "params/embedding/")) for k in keys):
        return "big_vision"
    if any(k.startswith(("resnet/", "opt/target/resnet/")) for k in keys):
        return "bit_npz"
    if any(k.startswith(("Transformer/", "opt/target/Transformer/")) for k in keys):
        return "vit_npz"
    if {"conv1.weight", "fc.weight"} <= names or "layer1.0.conv1.weight" in names:
        return "torchvision_resnet"
    if any("embedder.embedder." in k for k in keys):
        return "hf_resnet"
    if any("embeddings.patch_embeddings." in k for k in keys):
        return "hf_vit"
    if "patch_embed.proj.weight" in names or any(".attn.qkv." in k for k in keys):
        return "timm_vit"
    if "conv_proj.weight" in names or any(".self_attention.in_proj_" in k for k in keys):
        return "torchvision_vit"
    return None


def _telling_key(arrays: dict, format: str) -> str:
    """The first key (sorted) by which `arrays` is recognised as `format`."""
    return next((k for k in sorted(arrays) if guess_format([k]) == format), min(arrays))


def open_checkpoint(*, path: Path, format: str | None = None) -> OpenedCheckpoint:
    """Reads the checkpoint at `path` (file, or Hugging Face folder) and determines its format.

    `format` (one of FORMATS) overrides the detection from key names.
    """
    if format is not None and format not in FORMATS:
        raise ConversionError(f"unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    if not path.exists():
        raise ConversionError(f"input {path} does not exist")
    weights_file = _weights_in_folder(path) if path.is_dir() else path
    folder = weights_file.parent
    arrays = read_weights(weights_file)
    guessed = guess_format(list(arrays))
    if format is not None and guessed not in (None, format):
        raise ConversionError(
            f"{weights_file} holds a {guessed} checkpoint (key {_telling_key(arrays, guessed)!r}), "
            f"not {format}; leave --format out or give --format {guessed}"
        )
    detected = format or guessed
    if detected is None:
        raise ConversionError(
            f"cannot tell which checkpoint format {weights_file} holds (first keys: "
            f"{sorted(arrays)[:5]}); give --format ({', '.join(FORMATS)})"
        )
    config_file, preprocessor_file = folder / "config.json", folder / "preprocessor_config.json"
    hf = detected.startswith("hf_")
    config = read_json(config_file) if hf and config_file.is_file() else _timm_config(config_file)
    if detected == "hf_vit" and not config_file.is_file():
        raise ConversionError(
            f"{weights_file} is a Hugging Face ViT file, which needs its config.json beside it"
        )
    return OpenedCheckpoint(
        format=detected,
        weights_file=weights_file,
        arrays=arrays,
        config=config,
        preprocessor_config=(
            read_json(preprocessor_file) if hf and preprocessor_file.is_file() else None
        ),
    )


def _timm_config(path: Path) -> dict | None:
    """A timm hub folder's config.json at `path` (it names one `architecture` and its
    pretrained_cfg; Hugging Face's lists `architectures`), else None: a weight file's folder may
    hold a config.json of something else, which is not read further."""
    if not path.is_file():
        return None
    try:
        config = read_json(path)
    except ConversionError:
        return None
    return config if "architecture" in config and "pretrained_cfg" in config else None
