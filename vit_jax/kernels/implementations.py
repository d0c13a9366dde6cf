"""The layers' implementations for a model's `kernels` field, chosen once per model.

A model resolves its `kernels` field ('auto', 'cpu' or 'xla', vit_jax.kernels.selection) into
one `Implementations` and hands it to its layers, which plug it into the injection points flax
offers (`dot_general=` of nn.Dense and the attention projections, `attention_fn=` of
nn.MultiHeadDotProductAttention, `conv_general_dilated=` of nn.Conv) or, where flax has none,
call it in place of the flax function (BatchNorm, max pooling). Both choices give the same
parameters, names and numerics (tests/test_kernel_paths.py).
"""

import dataclasses
from collections.abc import Callable

import flax.linen as nn
import jax
from jax import lax

from vit_jax.kernels import selection
from vit_jax.kernels.attention import dot_product_attention, library_attention
from vit_jax.kernels.batch_norm import BatchNorm
from vit_jax.kernels.convolution import conv_general_dilated
from vit_jax.kernels.dense import dense_dot_general
from vit_jax.kernels.pooling import max_pool

Padding = tuple[tuple[int, int], tuple[int, int]]


def library_max_pool(x: jax.Array, window: int, stride: int, padding: Padding) -> jax.Array:
    """flax.linen.max_pool over square windows, called as vit_jax.kernels.pooling.max_pool."""
    return nn.max_pool(x, (window, window), strides=(stride, stride), padding=padding)


@dataclasses.dataclass(frozen=True)
class Implementations:
    """What the layers of one model run.

    dot_general: nn.Dense's and the attention projections' `dot_general`.
    attention_fn: nn.MultiHeadDotProductAttention's `attention_fn`.
    conv_general_dilated: nn.Conv's `conv_general_dilated` (the bias-free ResNet convolutions).
    batch_norm: a module class taking flax.linen.BatchNorm's fields used here.
    max_pool: (x, window, stride, padding) -> the max over square windows.
    scan_stages: whether long ResNet stages run as one lax.scan (vit_jax.models.layers.Stage).
    """

    dot_general: Callable
    attention_fn: Callable
    conv_general_dilated: Callable
    batch_norm: type[nn.Module]
    max_pool: Callable
    scan_stages: bool


# Hand-written gradients for XLA's CPU backend (the modules of this subpackage).
CPU = Implementations(
    dot_general=dense_dot_general,
    attention_fn=dot_product_attention,
    conv_general_dilated=conv_general_dilated,
    batch_norm=BatchNorm,
    max_pool=max_pool,
    scan_stages=True,
)
# The libraries' own kernels and automatic gradients (cuDNN attention on a GPU where it applies).
XLA = Implementations(
    dot_general=lax.dot_general,
    attention_fn=library_attention,
    conv_general_dilated=lax.conv_general_dilated,
    batch_norm=nn.BatchNorm,
    max_pool=library_max_pool,
    scan_stages=False,
)


def choose(kernels: str) -> Implementations:
    """CPU or XLA for a model's `kernels` field ('auto': CPU on the CPU backend, XLA elsewhere)."""
    return CPU if selection.resolve(kernels) == "cpu" else XLA
