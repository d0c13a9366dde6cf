"""BatchNorm ResNet v1.5 checkpoints in PyTorch naming -> vit_jax.models.resnet names.

Two namings of one network (the tests' table: tests/data/resnet_keys.json):
Hugging Face ResNetModel / ResNetForImageClassification (microsoft/resnet-50, -152; optional
'resnet.' prefix) and torchvision resnet50/101/152 state dicts (download.pytorch.org .pth).
Conv weights OIHW -> HWIO kernels, Linear weight -> kernel.T, BatchNorm weight/bias -> params
scale/bias and running_mean/var -> batch_stats mean/var; num_batches_tracked is not used.
Preprocessing: ImageNet mean/std on images in [0, 1]; a Hugging Face folder's geometry from its
preprocessor_config.json, a torchvision file's from the evaluation transform torchvision documents
for its ImageNet weights (IMAGENET1K_V1: resize the shorter edge to 256, bilinear, centre crop
224; the V2 weights are evaluated at 232, which a state dict does not say: see docs/checkpoints),
a timm hub folder's (torchvision names, config.json with pretrained_cfg) from its pretrained_cfg.
"""

import re
from typing import Any

import numpy as np

from vit_jax.checkpoints.formats import timm_config
from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_config import label_names, preprocessing
from vit_jax.checkpoints.formats.source import (
    ConversionError,
    SourceCheckpoint,
    collect,
    reject_unknown_keys,
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION_EVALUATION = {"resize_shortest_edge": 256, "crop_size": 224, "crop_offset": "round"}
Table = list[tuple[str, str, tuple[int, ...]]]
_BN_LEAVES = "weight|bias|running_mean|running_var|num_batches_tracked"
# (regex, vit_jax module path template, number added to each numeric group) per naming scheme;
# the regex's last group is the torch leaf name.
_TORCHVISION = [
    (r"conv1\.(weight)", "conv_root", ()),
    (rf"bn1\.({_BN_LEAVES})", "bn_root", ()),
    (r"layer(\d+)\.(\d+)\.conv(\d)\.(weight)", "block{}/unit{}/conv{}", (0, 1, 0)),
    (rf"layer(\d+)\.(\d+)\.bn(\d)\.({_BN_LEAVES})", "block{}/unit{}/bn{}", (0, 1, 0)),
    (r"layer(\d+)\.(\d+)\.downsample\.0\.(weight)", "block{}/unit{}/conv_proj", (0, 1)),
    (rf"layer(\d+)\.(\d+)\.downsample\.1\.({_BN_LEAVES})", "block{}/unit{}/bn_proj", (0, 1)),
    (r"fc\.(weight|bias)", "head", ()),
]
_STAGE = r"(?:resnet\.)?encoder\.stages\.(\d+)\.layers\.(\d+)"
HUGGING_FACE_NAMES = [
    (r"(?:resnet\.)?embedder\.embedder\.convolution\.(weight)", "conv_root", ()),
    (rf"(?:resnet\.)?embedder\.embedder\.normalization\.({_BN_LEAVES})", "bn_root", ()),
    (rf"{_STAGE}\.layer\.(\d)\.convolution\.(weight)", "block{}/unit{}/conv{}", (1, 1, 1)),
    (rf"{_STAGE}\.layer\.(\d)\.normalization\.({_BN_LEAVES})", "block{}/unit{}/bn{}", (1, 1, 1)),
    (rf"{_STAGE}\.shortcut\.convolution\.(weight)", "block{}/unit{}/conv_proj", (1, 1)),
    (rf"{_STAGE}\.shortcut\.normalization\.({_BN_LEAVES})", "block{}/unit{}/bn_proj", (1, 1)),
    (r"classifier\.1\.(weight|bias)", "head", ()),
]
BATCH_NORM_TARGETS = {
    "weight": "params/{}/scale",
    "bias": "params/{}/bias",
    "running_mean": "batch_stats/{}/mean",
    "running_var": "batch_stats/{}/var",
}


def module_and_leaf(key: str, *, table: Table) -> tuple[str, str] | None:
    """(vit_jax module path, torch leaf) of `key` under a naming table; None if it has no match."""
    for pattern, template, offsets in table:
        if m := re.fullmatch(pattern, key):
            numbers = (int(g) + offset for g, offset in zip(m.groups(), offsets, strict=False))
            return template.format(*numbers), m.groups()[-1]
    return None


def torch_to_flax_kernel(array: np.ndarray) -> np.ndarray:
    """Linear (out, in) -> (in, out); conv OIHW -> HWIO; other shapes unchanged (the shape check
    against the model reports them)."""
    if array.ndim == 2:
        return array.T
    return array.transpose(2, 3, 1, 0) if array.ndim == 4 else array


def _check_config(config: dict[str, Any] | None, *, file: str) -> None:
    """Refuses Hugging Face ResNet configs that are not the bottleneck v1.5 network."""
    config = config or {}
    wanted = {"layer_type": "bottleneck", "hidden_act": "relu", "downsample_in_bottleneck": False}
    for field, value in wanted.items():
        if config.get(field, value) != value:
            raise ConversionError(
                f"{file}: {field} {config[field]!r} is not supported (ResNet v1.5 needs {value!r})"
            )


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The variables (params and batch_stats) of a torchvision or Hugging Face ResNet."""
    hugging_face = opened.format == "hf_resnet"
    if hugging_face:
        _check_config(opened.config, file=str(opened.weights_file.parent / "config.json"))
    table = HUGGING_FACE_NAMES if hugging_face else _TORCHVISION
    names = {key: module_and_leaf(key, table=table) for key in opened.arrays}
    reject_unknown_keys(
        keys=[k for k, n in names.items() if n is None],
        file=opened.weights_file,
        format="Hugging Face ResNet" if hugging_face else "torchvision ResNet",
    )
    entries = []
    for key, (module, leaf) in names.items():
        array = opened.arrays[key]
        if leaf == "num_batches_tracked":
            continue
        if module.split("/")[-1].startswith("bn"):
            entries.append((BATCH_NORM_TARGETS[leaf].format(module), key, array))
        elif leaf == "bias":
            entries.append((f"params/{module}/bias", key, array))
        else:
            entries.append((f"params/{module}/kernel", key, torch_to_flax_kernel(array)))
    variables, source_names = collect(entries=entries, file=opened.weights_file)
    return SourceCheckpoint(
        format=opened.format,
        weights_file=opened.weights_file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={},
        preprocessing=_preprocessing(opened, hugging_face=hugging_face),
        label_names=label_names(opened.config, file=str(opened.weights_file.parent / "config.json"))
        if "params/head/kernel" in variables and hugging_face
        else None,
    )


def _preprocessing(opened: OpenedCheckpoint, *, hugging_face: bool) -> dict:
    """A Hugging Face folder's image processor, a timm hub folder's pretrained_cfg, else
    torchvision's documented evaluation transform."""
    if not hugging_face and opened.config is not None:  # a timm hub folder
        file = str(opened.weights_file.parent / "config.json")
        return timm_config.preprocessing(opened.config["pretrained_cfg"], file=file)
    return preprocessing(
        opened.preprocessor_config if hugging_face else None,
        default_mean=IMAGENET_MEAN,
        default_std=IMAGENET_STD,
    ) | ({} if hugging_face else TORCHVISION_EVALUATION)
