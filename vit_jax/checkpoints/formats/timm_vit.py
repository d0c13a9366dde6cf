"""timm VisionTransformer checkpoints -> vit_jax names: state dicts in any container (.pth,
.bin, .safetensors) and timm hub folders (config.json with `architecture` and `pretrained_cfg`
beside model.safetensors or pytorch_model.bin), as the AugReg weights ("How to train your ViT")
are published.

timm keys: cls_token, pos_embed, patch_embed.proj, blocks.N.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}, norm, head, and pre_logits.fc in older exports. The fused qkv Linear
(3D, D) is split into the query, key and value projections (D, heads, D/heads); the heads come
from the model the checkpoint is converted for. timm's ViT uses the exact (erf) GELU and
LayerNorm epsilon 1e-6: both are recorded as model overrides. Models with global average
pooling (fc_norm), no class token, register tokens or layer scale are reported as such.
Preprocessing: a hub folder's pretrained_cfg (timm_config); a bare state dict gets timm's ViT
default (bicubic, crop_pct 0.9, mean and std 0.5), which a state dict cannot state.
"""

import re

import numpy as np

from vit_jax.checkpoints.formats import timm_config
from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_vit import split_qkv, to_flax
from vit_jax.checkpoints.formats.source import (
    ConversionError,
    SourceCheckpoint,
    collect,
    reject_unknown_keys,
)
from vit_jax.models import architecture

VIT_DEFAULT_CFG = {
    "input_size": [3, 224, 224],
    "interpolation": "bicubic",
    "crop_pct": 0.9,
    "mean": [0.5] * 3,
    "std": [0.5] * 3,
}
_BLOCK = "Transformer/encoderblock_{i}/"
_LAYER = {
    "norm1": (_BLOCK + "LayerNorm_0", "norm"),
    "norm2": (_BLOCK + "LayerNorm_1", "norm"),
    "attn.proj": (_BLOCK + "MultiHeadDotProductAttention_0/out", "out"),
    "mlp.fc1": (_BLOCK + "MlpBlock_0/Dense_0", "linear"),
    "mlp.fc2": (_BLOCK + "MlpBlock_0/Dense_1", "linear"),
}
TOP_LEVEL = {
    "cls_token": ("cls", "same"),
    "pos_embed": ("Transformer/posembed_input/pos_embedding", "same"),
    "patch_embed.proj.weight": ("embedding/kernel", "conv"),
    "patch_embed.proj.bias": ("embedding/bias", "same"),
    "norm.weight": ("Transformer/encoder_norm/scale", "same"),
    "norm.bias": ("Transformer/encoder_norm/bias", "same"),
    "pre_logits.fc.weight": ("pre_logits/kernel", "linear"),
    "pre_logits.fc.bias": ("pre_logits/bias", "same"),
    "head.weight": ("head/kernel", "linear"),
    "head.bias": ("head/bias", "same"),
}
_LAYER_KEY = re.compile(r"blocks\.(\d+)\.(.+)\.(weight|bias)")
# Keys of timm ViT variants this model zoo does not have, and what they are.
_VARIANTS = {
    "fc_norm.": "global average pooling (global_pool='avg')",
    "reg_token": "register tokens",
    ".ls1.": "layer scale",
    ".q_norm.": "query/key normalisation",
    "attn_pool.": "attention pooling",
}


def _entries(key: str, array: np.ndarray, *, num_heads: int) -> list[tuple[str, str, np.ndarray]]:
    """(vit_jax path, file key, Flax-layout array) for one timm key; [] if the key is unknown."""
    if key in TOP_LEVEL:
        path, layout = TOP_LEVEL[key]
        return [(f"params/{path}", key, to_flax(array, layout=layout, num_heads=num_heads))]
    m = _LAYER_KEY.fullmatch(key)
    if m is None:
        return []
    block, module, leaf = int(m[1]), m[2], m[3]
    if module == "attn.qkv":
        attention = f"params/{_BLOCK.format(i=block)}MultiHeadDotProductAttention_0"
        return split_qkv(attention=attention, key=key, array=array, leaf=leaf, num_heads=num_heads)
    if module not in _LAYER:
        return []
    path, kind = _LAYER[module]
    if kind == "norm":
        name, layout = ("scale" if leaf == "weight" else "bias"), "same"
    else:
        name, layout = ("kernel", kind) if leaf == "weight" else ("bias", "same")
    path = f"params/{path.format(i=block)}/{name}"
    return [(path, key, to_flax(array, layout=layout, num_heads=num_heads))]


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a timm ViT checkpoint under the names of vit_jax.models.vit, for
    `model` (its heads split the fused qkv projection)."""
    file = opened.weights_file
    for marker, variant in _VARIANTS.items():
        if any(marker in key for key in opened.arrays):
            raise ConversionError(
                f"{file} is a timm ViT with {variant}, which the model zoo does not have"
            )
    if "cls_token" not in opened.arrays:
        raise ConversionError(f"{file} is a timm ViT without a class token, which is not supported")
    fields = architecture(model)
    if "num_heads" not in fields:
        raise ConversionError(f"{file} is a timm ViT; --model {model} is not a ViT")
    entries, unknown = [], []
    for key, array in opened.arrays.items():
        found = _entries(key, array, num_heads=fields["num_heads"])
        entries += found
        if not found:
            unknown.append(key)
    reject_unknown_keys(keys=unknown, file=file, format="timm ViT")
    variables, source_names = collect(entries=entries, file=file)
    config, config_file = opened.config or {}, str(file.parent / "config.json")
    if config.get("global_pool", "token") != "token":
        raise ConversionError(
            f"{config_file}: global_pool {config['global_pool']!r} is not supported (token)"
        )
    pretrained_cfg = config.get("pretrained_cfg", VIT_DEFAULT_CFG)
    preprocessing = timm_config.preprocessing(pretrained_cfg, file=config_file)  # checks it too
    pre_logits = variables.get("params/pre_logits/kernel")
    labels = config.get("label_names")
    return SourceCheckpoint(
        format="timm_vit",
        weights_file=file,
        variables=variables,
        source_names=source_names,
        image_size=tuple(pretrained_cfg["input_size"][1:])
        if opened.config and "input_size" in pretrained_cfg
        else None,
        model_overrides={
            "gelu_approximate": False,
            "layer_norm_epsilon": 1e-6,
            "representation_size": None if pre_logits is None else int(pre_logits.shape[1]),
        },
        preprocessing=preprocessing,
        label_names=labels
        if isinstance(labels, list)
        and all(isinstance(v, str) for v in labels)
        and "params/head/kernel" in variables
        and len(labels) == variables["params/head/kernel"].shape[-1]
        else None,
    )
