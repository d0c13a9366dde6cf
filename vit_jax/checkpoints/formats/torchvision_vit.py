"""torchvision VisionTransformer state dicts (vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14
.pth files from download.pytorch.org) -> vit_jax names.

torchvision keys: class_token, conv_proj, encoder.pos_embedding,
encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_*, self_attention.out_proj, ln_2,
mlp.0, mlp.3} (mlp.linear_1 and mlp.linear_2 in files older than torchvision 0.13), encoder.ln,
heads.head (and heads.pre_logits with a representation layer). The fused in_proj (3D, D) is split
into query, key and value; the heads come from the model the file is converted for. torchvision's
ViT uses the exact GELU and LayerNorm epsilon 1e-6. Preprocessing: the evaluation transform
torchvision documents for the weights of that size (at 224: IMAGENET1K_V1, bilinear, shorter
edge to 256, for ViT-L/16 242, centre crop 224; above 224: the SWAG end-to-end weights, bicubic,
a centre crop of the whole shorter edge), ImageNet mean and std.
"""

import math
import re

import numpy as np

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_vit import split_qkv, to_flax
from vit_jax.checkpoints.formats.source import (
    ConversionError,
    SourceCheckpoint,
    collect,
    reject_unknown_keys,
)
from vit_jax.checkpoints.formats.torch_resnet import IMAGENET_MEAN, IMAGENET_STD
from vit_jax.models import architecture

_BLOCK = "Transformer/encoderblock_{i}/"
_LAYER = {
    "ln_1": (_BLOCK + "LayerNorm_0", "norm"),
    "ln_2": (_BLOCK + "LayerNorm_1", "norm"),
    "self_attention.out_proj": (_BLOCK + "MultiHeadDotProductAttention_0/out", "out"),
    "mlp.0": (_BLOCK + "MlpBlock_0/Dense_0", "linear"),
    "mlp.3": (_BLOCK + "MlpBlock_0/Dense_1", "linear"),
    "mlp.linear_1": (_BLOCK + "MlpBlock_0/Dense_0", "linear"),
    "mlp.linear_2": (_BLOCK + "MlpBlock_0/Dense_1", "linear"),
}
TOP_LEVEL = {
    "class_token": ("cls", "same"),
    "encoder.pos_embedding": ("Transformer/posembed_input/pos_embedding", "same"),
    "conv_proj.weight": ("embedding/kernel", "conv"),
    "conv_proj.bias": ("embedding/bias", "same"),
    "encoder.ln.weight": ("Transformer/encoder_norm/scale", "same"),
    "encoder.ln.bias": ("Transformer/encoder_norm/bias", "same"),
    "heads.pre_logits.weight": ("pre_logits/kernel", "linear"),
    "heads.pre_logits.bias": ("pre_logits/bias", "same"),
    "heads.head.weight": ("head/kernel", "linear"),
    "heads.head.bias": ("head/bias", "same"),
}
_LAYER_KEY = re.compile(r"encoder\.layers\.encoder_layer_(\d+)\.(.+)\.(weight|bias)")
_IN_PROJ = re.compile(
    r"encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_(weight|bias)"
)
# Shorter edge before the 224 centre crop of the IMAGENET1K_V1 weights, per model.
V1_RESIZE = {"ViT-L_16": 242}


def _entries(key: str, array: np.ndarray, *, num_heads: int) -> list[tuple[str, str, np.ndarray]]:
    """(vit_jax path, file key, Flax-layout array) for one torchvision key; [] if unknown."""
    if key in TOP_LEVEL:
        path, layout = TOP_LEVEL[key]
        return [(f"params/{path}", key, to_flax(array, layout=layout, num_heads=num_heads))]
    if m := _IN_PROJ.fullmatch(key):
        attention = f"params/{_BLOCK.format(i=int(m[1]))}MultiHeadDotProductAttention_0"
        return split_qkv(attention=attention, key=key, array=array, leaf=m[2], num_heads=num_heads)
    m = _LAYER_KEY.fullmatch(key)
    if m is None or m[2] not in _LAYER:
        return []
    path, kind = _LAYER[m[2]]
    if kind == "norm":
        name, layout = ("scale" if m[3] == "weight" else "bias"), "same"
    else:
        name, layout = ("kernel", kind) if m[3] == "weight" else ("bias", "same")
    return [
        (
            f"params/{path.format(i=int(m[1]))}/{name}",
            key,
            to_flax(array, layout=layout, num_heads=num_heads),
        )
    ]


def preprocessing(*, model: str, image_size: int) -> dict:
    """torchvision's documented evaluation transform for `model`'s weights at `image_size`."""
    base = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    if image_size == 224:
        edge = V1_RESIZE.get(model, 256)
        return base | {"resize_method": "bilinear", "resize_shortest_edge": edge, "crop_size": 224}
    return base | {
        "resize_method": "bicubic",
        "resize_shortest_edge": image_size,
        "crop_size": image_size,
    }


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a torchvision ViT state dict under the names of vit_jax.models.vit."""
    file = opened.weights_file
    fields = architecture(model)
    if "num_heads" not in fields or fields.get("resnet"):
        raise ConversionError(f"{file} is a torchvision ViT; --model {model} is not a plain ViT")
    entries, unknown = [], []
    for key, array in opened.arrays.items():
        found = _entries(key, array, num_heads=fields["num_heads"])
        entries += found
        if not found:
            unknown.append(key)
    reject_unknown_keys(keys=unknown, file=file, format="torchvision ViT")
    variables, source_names = collect(entries=entries, file=file)
    pos_embedding = variables.get("params/Transformer/posembed_input/pos_embedding")
    if pos_embedding is None:
        raise ConversionError(f"{file} has no encoder.pos_embedding")
    side = math.isqrt(pos_embedding.shape[1] - 1) * fields["patches"][0]
    pre_logits = variables.get("params/pre_logits/kernel")
    return SourceCheckpoint(
        format="torchvision_vit",
        weights_file=file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={
            "gelu_approximate": False,
            "layer_norm_epsilon": 1e-6,
            "representation_size": None if pre_logits is None else int(pre_logits.shape[1]),
        },
        preprocessing=preprocessing(model=model, image_size=side) | {"crop_offset": "round"},
    )
