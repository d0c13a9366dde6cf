"""big_vision ViT checkpoints (.npz written by big_vision.utils.save_params: every parameter under
'params/', Linen module numbering) -> vit_jax names.

big_vision's ViT (models/vit.py) adds its position embedding `pos_embedding` (1, N, D) to the
patch tokens before the class token `cls` (pool_type 'tok') is prepended, so the class token gets
no position embedding: here it becomes our embedding's first row, zero. Without `cls` the model
pools by global average ('gap', big_vision's default; classifier 'gap' here). Checkpoints of the
scanned encoder ('Transformer/encoderblock', every array stacked over the layers) are unstacked.
A MAP head (MAPHead_0) is reported as such. Flax defaults: tanh-approximate GELU, LayerNorm
epsilon 1e-6; inputs scaled to [-1, 1] after a straight resize, as big_vision's evaluations do.
"""

import re

import numpy as np

from vit_jax.checkpoints.formats.detect import OpenedCheckpoint
from vit_jax.checkpoints.formats.source import (
    ConversionError,
    SourceCheckpoint,
    collect,
    reject_unknown_keys,
)

PREFIX = "params/"
PREPROCESSING = {"value_range": [-1, 1], "resize_method": "bilinear"}
_NAMES = re.compile(
    r"(embedding/(kernel|bias)|cls|head/(kernel|bias)|pre_logits/(kernel|bias)"
    r"|Transformer/encoder_norm/(scale|bias)|Transformer/encoderblock_\d+/.+)"
)
_SCANNED = "Transformer/encoderblock/"


def _unstacked(params: dict[str, np.ndarray], file) -> dict[str, np.ndarray]:
    """`params` with the scanned encoder's stacked arrays split into encoderblock_<i>."""
    scanned = {k: v for k, v in params.items() if k.startswith(_SCANNED)}
    if not scanned:
        return params
    depths = {v.shape[0] for v in scanned.values()}
    if len(depths) != 1:
        raise ConversionError(f"{file}: the scanned encoder's arrays disagree on the layer count")
    result = {k: v for k, v in params.items() if k not in scanned}
    for key, stacked in scanned.items():
        for layer, array in enumerate(stacked):
            result[f"Transformer/encoderblock_{layer}/{key.removeprefix(_SCANNED)}"] = array
    return result


def read(*, opened: OpenedCheckpoint, model: str) -> SourceCheckpoint:
    """The parameters of a big_vision ViT .npz under the names of vit_jax.models.vit."""
    file = opened.weights_file
    params = {k.removeprefix(PREFIX): v for k, v in opened.arrays.items() if k.startswith(PREFIX)}
    if any(k.startswith("MAPHead_0/") for k in params):
        raise ConversionError(
            f"{file} is a big_vision ViT with a MAP head (attention pooling), which the model "
            "zoo does not have"
        )
    params = _unstacked(params, file)
    pos_embedding = params.pop("pos_embedding", None)
    if pos_embedding is None:
        raise ConversionError(f"{file} has no params/pos_embedding (not a big_vision ViT?)")
    reject_unknown_keys(
        keys=[k for k in params if not _NAMES.fullmatch(k)], file=file, format="big_vision ViT"
    )
    token = "cls" in params
    if token:  # the class token has no position embedding in big_vision
        zero = np.zeros((1, 1, pos_embedding.shape[-1]), pos_embedding.dtype)
        pos_embedding = np.concatenate([zero, pos_embedding], axis=1)
    entries = [(f"params/{k}", PREFIX + k, v) for k, v in params.items()]
    entries.append(
        ("params/Transformer/posembed_input/pos_embedding", PREFIX + "pos_embedding", pos_embedding)
    )
    variables, source_names = collect(entries=entries, file=file)
    pre_logits = variables.get("params/pre_logits/kernel")
    return SourceCheckpoint(
        format="big_vision",
        weights_file=file,
        variables=variables,
        source_names=source_names,
        image_size=None,
        model_overrides={
            "classifier": "token" if token else "gap",
            "gelu_approximate": True,
            "layer_norm_epsilon": 1e-6,
            "representation_size": None if pre_logits is None else int(pre_logits.shape[1]),
        },
        preprocessing=dict(PREPROCESSING),
    )
