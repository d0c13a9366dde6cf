"""timm BiT checkpoints (resnetv2_50x1_bit and the other resnetv2_*x1_bit: state dicts and hub
folders) -> vit_jax.models.bit names.

timm builds these from the original BiT .npz (the same weights, its ResNetV2 with the fixed
stem: 7x7 convolution padded by 3, a zero pad of 1 and a 3x3 max pool, as ours): stem.conv,
stages.S.blocks.B.{norm1, conv1, norm2, conv2, norm3, conv3, downsample.conv}, norm, head.fc
(a 1x1 convolution). Torch layouts: OIHW kernels -> HWIO, the head (classes, C, 1, 1) -> (C,
classes). timm standardises the convolution weights with epsilon 1e-8 where the BiT authors'
code (and this model zoo) uses 1e-10: the weights are read as their authors run them.
Preprocessing: a hub folder's pretrained_cfg (timm_config), else BiT's [-1, 1] straight resize.
"""

import re

from vit_jax.checkpoints.formats import timm_config
from vit_jax.checkpoints.formats.bit_npz import PREPROCESSING
from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.source import (
    SourceCheckpoint,
    collect,
    drop_leading_ones,
    reject_unknown_keys,
)

_BLOCK = re.compile(
    r"stages\.(\d+)\.blocks\.(\d+)\.(norm[123]|conv[123]|downsample\.conv)\.(weight|bias)"
)


def vit_jax_path(key: str) -> str | None:
    """The vit_jax parameter path of timm BiT key `key`, or None when it is not one."""
    top = {
        "stem.conv.weight": "conv_root/kernel",
        "norm.weight": "norm/scale",
        "norm.bias": "norm/bias",
        "head.fc.weight": "head/kernel",
        "head.fc.bias": "head/bias",
    }
    if key in top:
        return top[key]
    m = _BLOCK.fullmatch(key)
    if m is None:
        return None
    unit = f"block{int(m[1]) + 1}/unit{int(m[2]) + 1}"
    if m[3] == "downsample.conv":
        return f"{unit}/conv_proj/kernel" if m[4] == "weight" else None
    if m[3].startswith("conv"):
        return f"{unit}/{m[3]}/kernel" if m[4] == "weight" else None
    return f"{unit}/gn{m[3][-1]}/{'scale' if m[4] == 'weight' else 'bias'}"


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a timm BiT checkpoint under the names of vit_jax.models.bit."""
    paths = {key: vit_jax_path(key) for key in opened.arrays}
    reject_unknown_keys(
        keys=[k for k, p in paths.items() if p is None], file=opened.weights_file, format="timm BiT"
    )
    entries = []
    for key, path in paths.items():
        array = opened.arrays[key]
        if path == "head/kernel":
            array = drop_leading_ones(array.transpose(2, 3, 1, 0), ndim=2)
        elif array.ndim == 4:
            array = array.transpose(2, 3, 1, 0)
        entries.append((f"params/{path}", key, array))
    variables, source_names = collect(entries=entries, file=opened.weights_file)
    config = opened.config
    file = str(opened.weights_file.parent / "config.json")
    return SourceCheckpoint(
        format="timm_bit",
        weights_file=opened.weights_file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={},
        preprocessing=timm_config.preprocessing(config["pretrained_cfg"], file=file)
        if config
        else dict(PREPROCESSING),
    )
