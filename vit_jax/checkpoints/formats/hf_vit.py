"""Hugging Face ViT checkpoints (ViTModel, ViTForImageClassification) -> vit_jax names.

Accepts the names written on disk (vit.encoder.layer.N.attention.attention.query.weight, which
transformers 5.x still writes) and the renamed in-memory names of transformers >= 5.9
(vit.layers.N.attention.q_proj.weight); ViTModel keys lack the 'vit.' prefix. Torch layouts:
Linear weight (out, in) -> kernel (in, out); q/k/v -> (D, heads, D/heads); output projection ->
(heads, D/heads, D); patch-embedding conv OIHW -> HWIO. The ViTModel pooler (dense + tanh on the
class token) is the pre-logits layer. GELU and LayerNorm epsilon come from config.json
(hidden_act 'gelu' is the exact erf GELU), preprocessing from preprocessor_config.json.
"""

import re
from typing import Any

import numpy as np

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_config import label_names, preprocessing, require
from vit_jax.checkpoints.formats.source import (
    ConversionError,
    SourceCheckpoint,
    collect,
    reject_unknown_keys,
)

# hidden_act values and whether they are the tanh approximation of GELU.
GELU_APPROXIMATE = {"gelu": False, "gelu_pytorch_tanh": True, "gelu_new": True}
_BLOCK = "Transformer/encoderblock_{i}/"
_ATTENTION = _BLOCK + "MultiHeadDotProductAttention_0/"
# per-layer module (both naming schemes) -> (vit_jax module path, module kind)
_LAYER = {
    "layernorm_before": (_BLOCK + "LayerNorm_0", "norm"),
    "layernorm_after": (_BLOCK + "LayerNorm_1", "norm"),
    "attention.attention.query": (_ATTENTION + "query", "qkv"),
    "attention.attention.key": (_ATTENTION + "key", "qkv"),
    "attention.attention.value": (_ATTENTION + "value", "qkv"),
    "attention.output.dense": (_ATTENTION + "out", "out"),
    "intermediate.dense": (_BLOCK + "MlpBlock_0/Dense_0", "linear"),
    "output.dense": (_BLOCK + "MlpBlock_0/Dense_1", "linear"),
    "attention.q_proj": (_ATTENTION + "query", "qkv"),
    "attention.k_proj": (_ATTENTION + "key", "qkv"),
    "attention.v_proj": (_ATTENTION + "value", "qkv"),
    "attention.o_proj": (_ATTENTION + "out", "out"),
    "mlp.fc1": (_BLOCK + "MlpBlock_0/Dense_0", "linear"),
    "mlp.fc2": (_BLOCK + "MlpBlock_0/Dense_1", "linear"),
}
# (module kind, torch leaf) -> (vit_jax leaf, array layout)
_LEAF = {
    ("norm", "weight"): ("scale", "same"),
    ("qkv", "weight"): ("kernel", "qkv"),
    ("qkv", "bias"): ("bias", "qkv_bias"),
    ("out", "weight"): ("kernel", "out"),
    ("linear", "weight"): ("kernel", "linear"),
}
TOP_LEVEL = {
    "embeddings.cls_token": ("cls", "same"),
    "embeddings.position_embeddings": ("Transformer/posembed_input/pos_embedding", "same"),
    "embeddings.patch_embeddings.projection.weight": ("embedding/kernel", "conv"),
    "embeddings.patch_embeddings.projection.bias": ("embedding/bias", "same"),
    "layernorm.weight": ("Transformer/encoder_norm/scale", "same"),
    "layernorm.bias": ("Transformer/encoder_norm/bias", "same"),
    "pooler.dense.weight": ("pre_logits/kernel", "linear"),
    "pooler.dense.bias": ("pre_logits/bias", "same"),
    "classifier.weight": ("head/kernel", "linear"),
    "classifier.bias": ("head/bias", "same"),
}
_LAYER_KEY = re.compile(r"(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)")


def vit_jax_name(key: str) -> tuple[str, str] | None:
    """(vit_jax parameter path, torch array layout) of a Hugging Face ViT key; None if unknown."""
    key = key.removeprefix("vit.")
    if key in TOP_LEVEL:
        return TOP_LEVEL[key]
    m = _LAYER_KEY.fullmatch(key)
    if m is None or m[2] not in _LAYER:
        return None
    module, kind = _LAYER[m[2]]
    leaf, layout = _LEAF.get((kind, m[3]), ("bias", "same"))
    return f"{module.format(i=int(m[1]))}/{leaf}", layout


def to_flax(array: np.ndarray, *, layout: str, num_heads: int) -> np.ndarray:
    """A torch-layout ViT array in the Flax layout of models_vit."""
    if layout == "conv":
        return array.transpose(2, 3, 1, 0)
    if layout == "linear":
        return array.T
    if layout == "qkv":
        return array.T.reshape(array.shape[1], num_heads, array.shape[0] // num_heads)
    if layout == "qkv_bias":
        return array.reshape(num_heads, array.shape[0] // num_heads)
    if layout == "out":
        return array.T.reshape(num_heads, array.shape[1] // num_heads, array.shape[0])
    return array


def split_qkv(
    *, attention: str, key: str, array: np.ndarray, leaf: str, num_heads: int
) -> list[tuple[str, str, np.ndarray]]:
    """(vit_jax path, file key, Flax array) of the query, key and value projections of
    `attention` (a vit_jax module path) from one fused torch projection: a (3D, D) weight or
    (3D,) bias, in that order (timm's attn.qkv, torchvision's in_proj)."""
    layout, name = ("qkv", "kernel") if leaf == "weight" else ("qkv_bias", "bias")
    return [
        (
            f"{attention}/{part}/{name}",
            f"{key}[{part}]",
            to_flax(a, layout=layout, num_heads=num_heads),
        )
        for part, a in zip(("query", "key", "value"), np.split(array, 3, axis=0), strict=True)
    ]


def model_overrides(config: dict[str, Any], *, file: str) -> dict[str, Any]:
    """create_model overrides for the GELU and LayerNorm of a Hugging Face ViT config."""
    act = require(config, "hidden_act", file=file, kind=str)
    if act not in GELU_APPROXIMATE:
        raise ConversionError(
            f"{file}: hidden_act {act!r} is not supported (use one of {sorted(GELU_APPROXIMATE)})"
        )
    if not config.get("qkv_bias", True):
        raise ConversionError(
            f"{file}: qkv_bias false is not supported (the ViT paper uses biases)"
        )
    epsilon = config.get("layer_norm_eps", 1e-12)
    if not isinstance(epsilon, int | float) or isinstance(epsilon, bool) or not epsilon > 0:
        raise ConversionError(f"{file}: layer_norm_eps {epsilon!r} is not a positive number")
    return {"gelu_approximate": GELU_APPROXIMATE[act], "layer_norm_epsilon": float(epsilon)}


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a Hugging Face ViT checkpoint under the names of vit_jax.models.vit."""
    config, config_file = opened.config, str(opened.weights_file.parent / "config.json")
    num_heads = require(config, "num_attention_heads", file=config_file, kind=int)
    hidden_size = require(config, "hidden_size", file=config_file, kind=int)
    if hidden_size % num_heads:
        raise ConversionError(
            f"{config_file}: hidden_size {hidden_size} is not divisible by {num_heads} heads"
        )
    names = {key: vit_jax_name(key) for key in opened.arrays}
    reject_unknown_keys(
        keys=[k for k, n in names.items() if n is None],
        file=opened.weights_file,
        format="Hugging Face ViT",
    )
    entries = [
        (f"params/{path}", key, to_flax(opened.arrays[key], layout=layout, num_heads=num_heads))
        for key, (path, layout) in names.items()
    ]
    variables, source_names = collect(entries=entries, file=opened.weights_file)
    pre_logits = variables.get("params/pre_logits/kernel")
    size = require(config, "image_size", file=config_file)
    if not (isinstance(size, int) and not isinstance(size, bool) and size > 0) and not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise ConversionError(f"{config_file}: image_size {size!r} is not a positive size")
    return SourceCheckpoint(
        format="hf_vit",
        weights_file=opened.weights_file,
        variables=variables,
        source_names=source_names,
        image_size=tuple(size) if isinstance(size, list) else (int(size), int(size)),
        model_overrides={
            **model_overrides(config, file=config_file),
            "representation_size": None if pre_logits is None else int(pre_logits.shape[1]),
        },
        preprocessing=preprocessing(
            opened.preprocessor_config, default_mean=(0.5,) * 3, default_std=(0.5,) * 3
        ),
        label_names=label_names(config, file=config_file)
        if "params/head/kernel" in variables
        else None,
    )
