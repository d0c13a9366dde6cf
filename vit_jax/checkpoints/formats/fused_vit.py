"""ViTs saved by PyTorch libraries that fuse the query, key and value projections into one
(timm's attn.qkv, torchvision's in_proj) -> vit_jax names. One reader; each library gives its key
names as a `Naming` (timm_vit.py, torchvision_vit.py). Torch layouts as in hf_vit.py; the fused
(3D, D) projection is split into query, key and value (D, heads, D/heads), the heads taken from
the model the checkpoint is converted for.
"""

import dataclasses
import re

import numpy as np

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.hf_vit import split_qkv, to_flax
from vit_jax.checkpoints.formats.source import ConversionError, collect, reject_unknown_keys
from vit_jax.models import architecture

BLOCK = "Transformer/encoderblock_{i}/"
ATTENTION = BLOCK + "MultiHeadDotProductAttention_0"
NORM_1, NORM_2 = BLOCK + "LayerNorm_0", BLOCK + "LayerNorm_1"
OUT, MLP_1, MLP_2 = ATTENTION + "/out", BLOCK + "MlpBlock_0/Dense_0", BLOCK + "MlpBlock_0/Dense_1"


# The top-level arrays of a ViT, in the order `top_level` takes their keys: (vit_jax path, layout).
TOP_LEVEL = (
    ("cls", "same"),
    ("Transformer/posembed_input/pos_embedding", "same"),
    ("embedding/kernel", "conv"),
    ("embedding/bias", "same"),
    ("Transformer/encoder_norm/scale", "same"),
    ("Transformer/encoder_norm/bias", "same"),
    ("pre_logits/kernel", "linear"),
    ("pre_logits/bias", "same"),
    ("head/kernel", "linear"),
    ("head/bias", "same"),
)


def top_level(*keys: str) -> dict[str, tuple[str, str]]:
    """A library's keys for TOP_LEVEL's arrays (class token, position embedding, patch
    embedding kernel and bias, final norm scale and bias, pre-logits kernel and bias, head kernel
    and bias) -> (vit_jax path, layout)."""
    return dict(zip(keys, TOP_LEVEL, strict=True))


@dataclasses.dataclass(frozen=True)
class Naming:
    """A library's key names: `top_level` key -> (vit_jax path, torch layout); `layer` matches a
    block's keys as (block, module, leaf) and `modules` maps its module names to (vit_jax path
    template, kind: 'norm', 'out' or 'linear'); `fused` matches the fused projection as (block,
    'weight' | 'bias')."""

    library: str
    top_level: dict[str, tuple[str, str]]
    layer: re.Pattern
    modules: dict[str, tuple[str, str]]
    fused: re.Pattern


def entries(
    naming: Naming, key: str, array: np.ndarray, *, num_heads: int
) -> list[tuple[str, str, np.ndarray]]:
    """(vit_jax path, file key, Flax-layout array) for one key; [] if `naming` has no such key."""
    if key in naming.top_level:
        path, layout = naming.top_level[key]
        return [(f"params/{path}", key, to_flax(array, layout=layout, num_heads=num_heads))]
    if m := naming.fused.fullmatch(key):
        attention = "params/" + ATTENTION.format(i=int(m[1]))
        return split_qkv(attention=attention, key=key, array=array, leaf=m[2], num_heads=num_heads)
    m = naming.layer.fullmatch(key)
    if m is None or m[2] not in naming.modules:
        return []
    path, kind = naming.modules[m[2]]
    if kind == "norm":
        name, layout = ("scale" if m[3] == "weight" else "bias"), "same"
    else:
        name, layout = ("kernel", kind) if m[3] == "weight" else ("bias", "same")
    path = f"params/{path.format(i=int(m[1]))}/{name}"
    return [(path, key, to_flax(array, layout=layout, num_heads=num_heads))]


def read_variables(
    *, opened: OpenedCheckpoint, model: str, naming: Naming
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(variables, source names) of the checkpoint under vit_jax names, for `model` (a plain ViT,
    whose heads split the fused projection); every key must be one of `naming`'s."""
    file = opened.weights_file
    fields = architecture(model)
    if "num_heads" not in fields or fields.get("resnet"):
        raise ConversionError(f"{file} is a {naming.library} ViT; --model {model} is not a ViT")
    found, unknown = [], []
    for key, array in opened.arrays.items():
        named = entries(naming, key, array, num_heads=fields["num_heads"])
        found += named
        if not named:
            unknown.append(key)
    reject_unknown_keys(keys=unknown, file=file, format=f"{naming.library} ViT")
    return collect(entries=found, file=file)
