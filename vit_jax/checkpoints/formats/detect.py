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
    "timm_bit",
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


# Per format, in the order tried: the key that tells it (a prefix, or a part of the name).
MARKERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("big_vision", "prefix", ("params/Transformer/", "params/embedding/")),
    ("bit_npz", "prefix", ("resnet/", "opt/target/resnet/")),
    ("vit_npz", "prefix", ("Transformer/", "opt/target/Transformer/")),
    ("torchvision_resnet", "name", ("layer1.0.conv1.weight", "conv1.weight")),
    ("hf_resnet", "part", ("embedder.embedder.",)),
    ("hf_vit", "part", ("embeddings.patch_embeddings.",)),
    ("timm_vit", "part", ("patch_embed.proj.weight", ".attn.qkv.")),
    ("torchvision_vit", "part", ("conv_proj.weight", ".self_attention.in_proj_")),
    ("timm_bit", "name", ("stem.conv.weight",)),
)


def _marks(key: str, kind: str, markers: tuple[str, ...]) -> bool:
    if kind == "prefix":
        return key.startswith(markers)
    if kind == "name":
        return key in markers
    return any(marker in key for marker in markers)


def guess_format(keys: list[str]) -> str | None:
    """The first format in MARKERS whose telling key `keys` hold, or None."""
    for format, kind, markers in MARKERS:
        if any(_marks(key, kind, markers) for key in keys):
            return format
    return None


def looked_for() -> str:
    """What each format's detection looks for, for an error message."""
    wanted = {"prefix": "a key starting {}", "name": "the key {}", "part": "a key containing {}"}
    return "; ".join(
        f"{format}: {wanted[kind].format(' or '.join(repr(m) for m in markers))}"
        for format, kind, markers in MARKERS
    )


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
            f"{sorted(arrays)[:5]}; looked for {looked_for()}); give --format "
            f"({', '.join(FORMATS)})"
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
