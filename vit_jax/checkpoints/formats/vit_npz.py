"""Original ViT .npz checkpoints (gs://vit_models/imagenet21k*/..., AugReg) -> vit_jax names.

The files store the Flax parameter tree flattened with '/', in the native layout of our model
(kernels (in, out), q/k/v kernels (D, heads, D/heads), conv kernels HWIO), under pre-Linen module
numbering (MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3), sometimes below an
'opt/target/' prefix (the rest of 'opt/' is optimizer state and is not read). Hybrid R50+ViT files
from before flax 0.3.6 store GroupNorm scale/bias as (1, 1, 1, C); they are squeezed to (C,).
The networks use tanh-approximate GELU and LayerNorm epsilon 1e-6 (Flax defaults) and inputs
scaled to [-1, 1].
"""

import re

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.source import (
    SourceCheckpoint,
    collect,
    drop_leading_ones,
    reject_unknown_keys,
)
from vit_jax.checkpoints.pre_linen import pre_linen_to_linen

OPT_TARGET = "opt/target/"
GROUP_NORM_PARAM = re.compile(r"(^|/)gn[^/]*/(scale|bias)$")
PREPROCESSING = {"value_range": [-1, 1], "resize_method": "bilinear"}
# The top-level modules of a ViT or R50+ViT file (the hybrid's backbone: conv_root, gn_root,
# block1-3).
TOP_MODULES = re.compile(r"(Transformer|embedding|cls|head|pre_logits|conv_root|gn_root|block\d+)")


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of an original ViT or R50+ViT .npz under Linen names."""
    prefix = OPT_TARGET if any(key.startswith(OPT_TARGET) for key in opened.arrays) else ""
    arrays = {k[len(prefix) :]: v for k, v in opened.arrays.items() if k.startswith(prefix)}
    reject_unknown_keys(
        keys=[k for k in arrays if not TOP_MODULES.fullmatch(k.split("/")[0])],
        file=opened.weights_file,
        format="ViT .npz",
    )
    linen_to_file_key = pre_linen_to_linen({key: key for key in arrays})
    entries = []
    for path, key in linen_to_file_key.items():
        array = arrays[key]
        if GROUP_NORM_PARAM.search(path):
            array = drop_leading_ones(array, ndim=1)
        entries.append((f"params/{path}", prefix + key, array))
    variables, source_names = collect(entries=entries, file=opened.weights_file)
    pre_logits = variables.get("params/pre_logits/kernel")
    return SourceCheckpoint(
        format="vit_npz",
        weights_file=opened.weights_file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={
            "gelu_approximate": True,
            "layer_norm_epsilon": 1e-6,
            "representation_size": None if pre_logits is None else int(pre_logits.shape[1]),
        },
        preprocessing=dict(PREPROCESSING),
    )
