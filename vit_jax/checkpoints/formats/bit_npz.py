"""BiT .npz checkpoints (storage.googleapis.com/bit_models/BiT-{S,M}-R*.npz) -> vit_jax names.

TF-exported names below 'resnet/': per unit 'a' = GroupNorm + 1x1 conv (+ 'a/proj' projection in
unit01), 'b' = GroupNorm + 3x3 conv, 'c' = GroupNorm + 1x1 conv; units zero-padded (unit01);
GroupNorm gamma/beta 1-D (or (1, 1, 1, C) from bit_jax); the head is a 1x1 conv
(1, 1, C, classes). Some files say 'standardized_conv2d_<n>'. Inputs are scaled to [-1, 1].
"""

import re

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.source import (
    SourceCheckpoint,
    collect,
    drop_leading_ones,
    reject_unknown_keys,
)

PREPROCESSING = {"value_range": [-1, 1], "resize_method": "bilinear"}
_CONV = r"standardized_conv2d(?:_\d+)?/kernel"
_UNIT = r"resnet/block(\d+)/unit(\d+)"
_LAYER_INDEX = {"a": 1, "b": 2, "c": 3}
_GN_LEAF = {"gamma": "scale", "beta": "bias"}


def vit_jax_path(key: str) -> str | None:
    """The vit_jax parameter path of BiT file key `key`, or None when `key` is not a BiT name."""
    if re.fullmatch(f"resnet/root_block/{_CONV}", key):
        return "conv_root/kernel"
    if m := re.fullmatch(f"{_UNIT}/a/proj/{_CONV}", key):
        return f"block{m[1]}/unit{int(m[2])}/conv_proj/kernel"
    if m := re.fullmatch(f"{_UNIT}/([abc])/{_CONV}", key):
        return f"block{m[1]}/unit{int(m[2])}/conv{_LAYER_INDEX[m[3]]}/kernel"
    if m := re.fullmatch(f"{_UNIT}/([abc])/group_norm/(gamma|beta)", key):
        return f"block{m[1]}/unit{int(m[2])}/gn{_LAYER_INDEX[m[3]]}/{_GN_LEAF[m[4]]}"
    if m := re.fullmatch("resnet/group_norm/(gamma|beta)", key):
        return f"norm/{_GN_LEAF[m[1]]}"
    if m := re.fullmatch("resnet/head/conv2d/(kernel|bias)", key):
        return f"head/{m[1]}"
    return None


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a BiT ResNet-v2 .npz under the names of vit_jax.models.bit."""
    paths = {key: vit_jax_path(key) for key in opened.arrays}
    reject_unknown_keys(
        keys=[k for k, p in paths.items() if p is None], file=opened.weights_file, format="BiT .npz"
    )
    entries = []
    for key, path in paths.items():
        array = opened.arrays[key]
        if path == "head/kernel" or not path.endswith("kernel"):
            array = drop_leading_ones(array, ndim=2 if path == "head/kernel" else 1)
        entries.append((f"params/{path}", key, array))
    variables, source_names = collect(entries=entries, file=opened.weights_file)
    return SourceCheckpoint(
        format="bit_npz",
        weights_file=opened.weights_file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={},
        preprocessing=dict(PREPROCESSING),
    )
