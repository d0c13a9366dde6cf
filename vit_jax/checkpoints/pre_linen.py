"""Parameter-name mapping from pre-Linen (flax.nn) ViT checkpoints to the Linen names of models_vit.

Pre-Linen flax numbered a module's children among all of them (LayerNorm_0,
MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3); Linen numbers them per class (LayerNorm_0,
MultiHeadDotProductAttention_0, LayerNorm_1, MlpBlock_0). The released ViT and R50+ViT .npz files
use the pre-Linen names inside every encoder block; everything else keeps its name.

flax.training.checkpoints.convert_pre_linen is not used: it renumbers every `<name>_<n>` it sees,
so explicitly named blocks (encoderblock_10, ...) would be renamed whenever the set of blocks is
not exactly 0..L-1.
"""

import re
from typing import Any

PRE_LINEN_BLOCK_CHILDREN = {
    "LayerNorm_0": "LayerNorm_0",
    "MultiHeadDotProductAttention_1": "MultiHeadDotProductAttention_0",
    "LayerNorm_2": "LayerNorm_1",
    "MlpBlock_3": "MlpBlock_0",
}
_BLOCK = re.compile(r"encoderblock_\d+")


def pre_linen_to_linen(flat: dict[str, Any]) -> dict[str, Any]:
    """Renames '/'-joined parameter paths from pre-Linen to Linen numbering; values untouched.

    Only the direct children of `encoderblock_<n>` modules are renamed, so paths already in
    Linen form come back unchanged. Returns a new flat dict with '/'-joined keys.
    """
    renamed = {}
    for key, value in flat.items():
        parts = key.split("/")
        for i in range(1, len(parts)):
            if _BLOCK.fullmatch(parts[i - 1]):
                parts[i] = PRE_LINEN_BLOCK_CHILDREN.get(parts[i], parts[i])
        renamed["/".join(parts)] = value
    return renamed
