"""timm VisionTransformer checkpoints -> vit_jax names: state dicts in any container (.pth,
.bin, .safetensors) and timm hub folders (config.json with `architecture` and `pretrained_cfg`
beside model.safetensors or pytorch_model.bin), as the AugReg weights ("How to train your ViT")
are published.

timm keys: cls_token, pos_embed, patch_embed.proj, blocks.N.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}, norm, head, and pre_logits.fc in older exports (read by fused_vit.py, which
splits the fused qkv projection). timm's ViT uses the exact (erf) GELU and
LayerNorm epsilon 1e-6: both are recorded as model overrides. Models with global average
pooling (fc_norm), no class token, register tokens or layer scale are reported as such.
Preprocessing: a hub folder's pretrained_cfg (timm_config); a bare state dict gets timm's ViT
default (bicubic, crop_pct 0.9, mean and std 0.5), which a state dict cannot state.
"""

import re

from vit_jax.checkpoints.formats import timm_config
from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.fused_vit import (
    MLP_1,
    MLP_2,
    NORM_1,
    NORM_2,
    OUT,
    Naming,
    read_variables,
    top_level,
)
from vit_jax.checkpoints.formats.source import ConversionError, SourceCheckpoint

VIT_DEFAULT_CFG = {
    "input_size": [3, 224, 224],
    "interpolation": "bicubic",
    "crop_pct": 0.9,
    "mean": [0.5] * 3,
    "std": [0.5] * 3,
}
NAMING = Naming(
    library="timm",
    top_level=top_level(
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "patch_embed.proj.bias",
        "norm.weight",
        "norm.bias",
        "pre_logits.fc.weight",
        "pre_logits.fc.bias",
        "head.weight",
        "head.bias",
    ),
    layer=re.compile(r"blocks\.(\d+)\.(.+)\.(weight|bias)"),
    modules={
        "norm1": (NORM_1, "norm"),
        "norm2": (NORM_2, "norm"),
        "attn.proj": (OUT, "out"),
        "mlp.fc1": (MLP_1, "linear"),
        "mlp.fc2": (MLP_2, "linear"),
    },
    fused=re.compile(r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)"),
)
# Keys of timm ViT variants this model zoo does not have, and what they are.
_VARIANTS = {
    "fc_norm.": "global average pooling (global_pool='avg')",
    "reg_token": "register tokens",
    ".ls1.": "layer scale",
    ".q_norm.": "query/key normalisation",
    "attn_pool.": "attention pooling",
}


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
    variables, source_names = read_variables(opened=opened, model=model, naming=NAMING)
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
