"""What a model computes on the way to its logits: the representation its classification head
reads (the few-shot evaluation's features, paper section 4.1): the pre-logits of a ViT that has
them, else its final class token LN(z_L^0) (eq. 4); a ResNet's or BiT's pooled features, taken
with flax's method interception, so that every model family gives it without a second forward
method; and a ViT's attention weights softmax(q k^T) per encoder block, which its blocks sow into
vit_jax.models.vit.SOWN (the pictures of section 4.5).
"""

import flax.linen as nn
import jax
import numpy as np

from vit_jax.models.vit import SOWN


def head_input_fn(model: nn.Module):
    """A jitted function (variables, images) -> the input of `model`'s classification head."""

    def features(variables, images):
        captured = []

        def interceptor(next_fun, args, kwargs, context):
            if context.module.name == "head" and context.method_name == "__call__":
                captured.append(args[0])
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(interceptor):
            model.apply(variables, images, train=False)
        return captured[-1].astype(np.float32)

    return jax.jit(features)


def attention_weights_fn(model: nn.Module):
    """A jitted (variables, images) -> ([per block (batch, heads, tokens, tokens)], grid) where
    grid = (rows, columns) of patch tokens (a hybrid's is the backbone feature map's)."""

    def apply(variables, images):
        _, state = model.apply(
            variables,
            images,
            train=False,
            mutable=[SOWN],
            capture_intermediates=lambda module, method: module.name == "embedding",
        )
        sown = state[SOWN]
        blocks = sown["Transformer"]
        weights = [
            blocks[f"encoderblock_{i}"]["MultiHeadDotProductAttention_0"]["attention_weights"][0]
            for i in range(len(blocks))
        ]
        return weights, sown["embedding"]["__call__"][0].shape[1:3]

    jitted = jax.jit(apply)

    def run(variables, images) -> tuple[list[np.ndarray], tuple[int, int]]:
        weights, grid = jitted(variables, images)
        return [np.asarray(w, np.float64) for w in weights], tuple(int(g) for g in grid)

    return run
