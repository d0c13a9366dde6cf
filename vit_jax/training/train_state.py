"""The training state (all a resumed run needs besides the data iterator) and head initialisers."""

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

HEAD_INITS = ("zeros", "hf")


class TrainState(struct.PyTreeNode):
    """Micro-batch step counter, parameters, BatchNorm running statistics ({} without BatchNorm) and
    optimizer state."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any

    @property
    def variables(self) -> dict:
        """The variables for model.apply."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}


def create_train_state(*, variables: dict, optimizer: optax.GradientTransformation) -> TrainState:
    params = variables["params"]
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=optimizer.init(params),
    )


def init_head(*, params: dict, model_name: str, head_init: str, seed: int) -> dict:
    """`params` with `head/{kernel,bias}` re-initialised.

    'zeros': the paper's zero-initialised head (section 3.1, "Fine-tuning and higher resolution").
    'hf': the random head a Hugging Face model gets when its classifier is replaced, as in the
    study: ViT (ViTForImageClassification) kernel ~ normal(0, 0.02), bias 0; ResNet
    (ResNetForImageClassification, torch nn.Linear's default) kernel and bias ~
    uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    if head_init not in HEAD_INITS:
        raise ValueError(f"head_init {head_init!r} is not one of {HEAD_INITS}")
    kernel, bias = params["head"]["kernel"], params["head"]["bias"]
    if head_init == "zeros":
        head = {"kernel": jnp.zeros_like(kernel), "bias": jnp.zeros_like(bias)}
    elif model_name.startswith("ResNet-"):
        bound = 1.0 / math.sqrt(kernel.shape[0])
        kernel_key, bias_key = jax.random.split(jax.random.key(seed))
        head = {
            "kernel": jax.random.uniform(kernel_key, kernel.shape, jnp.float32, -bound, bound),
            "bias": jax.random.uniform(bias_key, bias.shape, jnp.float32, -bound, bound),
        }
    else:
        head = {
            "kernel": 0.02 * jax.random.normal(jax.random.key(seed), kernel.shape, jnp.float32),
            "bias": jnp.zeros_like(bias),
        }
    return {**params, "head": head}
