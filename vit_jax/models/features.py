"""The representation of an image that a model's classification head reads (the few-shot
evaluation's features, paper section 4.1): the pre-logits of a ViT that has them, else its final
class token LN(z_L^0) (eq. 4); a ResNet's or BiT's pooled features. Taken with flax's method
interception, so that every model family gives it without a second forward method.
"""

import flax.linen as nn
import jax
import numpy as np


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
