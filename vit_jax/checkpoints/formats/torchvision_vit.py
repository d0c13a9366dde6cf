"""torchvision VisionTransformer state dicts (vit_b_16, vit_b_32, vit_l_16, vit_l_32, vit_h_14
.pth files from download.pytorch.org) -> vit_jax names.

torchvision keys: class_token, conv_proj, encoder.pos_embedding,
encoder.layers.encoder_layer_N.{ln_1, self_attention.in_proj_*, self_attention.out_proj, ln_2,
mlp.0, mlp.3} (mlp.linear_1 and mlp.linear_2 in files older than torchvision 0.13), encoder.ln,
heads.head (and heads.pre_logits with a representation layer); read by fused_vit.py, which
splits the fused in_proj. torchvision's
ViT uses the exact GELU and LayerNorm epsilon 1e-6. Preprocessing: the evaluation transform
torchvision documents for the weights of that size (at 224: IMAGENET1K_V1, bilinear, shorter
edge to 256, for ViT-L/16 242, centre crop 224; above 224: the SWAG end-to-end weights, bicubic,
a centre crop of the whole shorter edge), ImageNet mean and std.
"""

import math
import re

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
from vit_jax.checkpoints.formats.torch_resnet import IMAGENET_MEAN, IMAGENET_STD
from vit_jax.models import architecture

NAMING = Naming(
    library="torchvision",
    top_level=top_level(
        "class_token",
        "encoder.pos_embedding",
        "conv_proj.weight",
        "conv_proj.bias",
        "encoder.ln.weight",
        "encoder.ln.bias",
        "heads.pre_logits.weight",
        "heads.pre_logits.bias",
        "heads.head.weight",
        "heads.head.bias",
    ),
    layer=re.compile(r"encoder\.layers\.encoder_layer_(\d+)\.(.+)\.(weight|bias)"),
    modules={
        "ln_1": (NORM_1, "norm"),
        "ln_2": (NORM_2, "norm"),
        "self_attention.out_proj": (OUT, "out"),
        "mlp.0": (MLP_1, "linear"),
        "mlp.3": (MLP_2, "linear"),
        "mlp.linear_1": (MLP_1, "linear"),
        "mlp.linear_2": (MLP_2, "linear"),
    },
    fused=re.compile(
        r"encoder\.layers\.encoder_layer_(\d+)\.self_attention\.in_proj_(weight|bias)"
    ),
)
# Shorter edge before the 224 centre crop of the IMAGENET1K_V1 weights, per model.
V1_RESIZE = {"ViT-L_16": 242}


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
    variables, source_names = read_variables(opened=opened, model=model, naming=NAMING)
    pos_embedding = variables.get("params/Transformer/posembed_input/pos_embedding")
    if pos_embedding is None:
        raise ConversionError(f"{file} has no encoder.pos_embedding")
    side = math.isqrt(pos_embedding.shape[1] - 1) * architecture(model)["patches"][0]
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
