"""2-D convolutions (NHWC inputs, HWIO kernels) with a hand-written gradient.

The forward pass is lax.conv_general_dilated. For the gradient, with P the patch matrix of the
input (one row per output position, kh * kw * C_in columns: im2col) and W the kernel as a
(kh * kw * C_in, C_out) matrix, y = P W, so

    dW = P^T dy,    dx = col2im(dy W^T)

where col2im, the transpose of taking patches, adds every patch row back onto the input positions
it was read from. XLA's CPU backend computes the kernel gradient of a convolution slowly when
the contraction over batch x output positions is long (measured for ResNet-50's 3x3
convolutions at 56x56 and 28x28, batch 16: this gradient 1.2-1.5x faster for forward and
backward together); dW as one matrix product avoids that. The patches are rebuilt in the
backward pass rather than kept. A 1x1 convolution without padding is a matrix product over
channels (`pointwise`: a strided one reads every s-th pixel), whose kernel gradient XLA's CPU
backend computes several times faster than a convolution's. Other convolutions (dilation,
groups, other layouts) use lax.conv_general_dilated unchanged.
"""

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from vit_jax.kernels.dense import matmul

Array = jax.Array
Padding = tuple[tuple[int, int], tuple[int, int]]

NHWC = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(3, 2, 0, 1), out_spec=(0, 3, 1, 2))


def window_slices(
    x_pad: Array, *, kernel_size: tuple[int, int], strides: tuple[int, int]
) -> list[Array]:
    """For every kernel offset (i, j), row-major, the (N, H_out, W_out, C) strided slice of the
    padded NHWC input that the offset reads at every output position."""
    (kh, kw), (sh, sw) = kernel_size, strides
    out_h = (x_pad.shape[1] - kh) // sh + 1
    out_w = (x_pad.shape[2] - kw) // sw + 1
    return [
        x_pad[:, i : i + sh * (out_h - 1) + 1 : sh, j : j + sw * (out_w - 1) + 1 : sw, :]
        for i in range(kh)
        for j in range(kw)
    ]


def patches(x: Array, *, kernel_size: tuple[int, int], strides: tuple[int, int], padding: Padding):
    """im2col: (N, H, W, C) -> (N, H_out, W_out, kh * kw * C), kernel offsets major, channels
    minor (the order of an HWIO kernel reshaped to (kh * kw * C, C_out))."""
    x_pad = jnp.pad(x, ((0, 0), *padding, (0, 0)))
    return jnp.concatenate(window_slices(x_pad, kernel_size=kernel_size, strides=strides), axis=-1)


def _forward(x: Array, kernel: Array, strides: tuple[int, int], padding: Padding) -> Array:
    return lax.conv_general_dilated(x, kernel, strides, padding, dimension_numbers=NHWC)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv2d(x: Array, kernel: Array, strides: tuple[int, int], padding: Padding) -> Array:
    """Convolution of NHWC `x` with HWIO `kernel`, explicit (low, high) padding per spatial axis."""
    return _forward(x, kernel, strides, padding)


def _conv2d_forward(x, kernel, strides, padding):
    return _forward(x, kernel, strides, padding), (x, kernel)


def _conv2d_backward(strides, padding, residuals, d_y):
    x, kernel = residuals
    take = functools.partial(
        patches, kernel_size=kernel.shape[:2], strides=strides, padding=padding
    )
    cols, col2im = jax.vjp(take, x)
    rows, k = d_y.shape[0] * d_y.shape[1] * d_y.shape[2], cols.shape[-1]
    d_cols, d_kernel = jax.vjp(matmul, cols.reshape(rows, k), kernel.reshape(k, -1))[1](
        d_y.reshape(rows, -1)
    )
    (d_x,) = col2im(d_cols.reshape(cols.shape))
    return d_x, d_kernel.reshape(kernel.shape)


conv2d.defvjp(_conv2d_forward, _conv2d_backward)


def pointwise(x: Array, kernel: Array, strides: tuple[int, int]) -> Array:
    """A 1x1 convolution (HWIO kernel (1, 1, C_in, C_out)) of NHWC `x` without padding."""
    x = x[:, :: strides[0], :: strides[1], :]
    return matmul(x.reshape(-1, x.shape[-1]), kernel[0, 0]).reshape(*x.shape[:-1], -1)


def conv_general_dilated(
    lhs: Array,
    rhs: Array,
    window_strides: Sequence[int],
    padding: Any,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
) -> Array:
    """lax.conv_general_dilated for flax's nn.Conv (`conv_general_dilated=`): an undilated,
    ungrouped NHWC/HWIO 2-D convolution with explicit padding is `pointwise` for a 1x1 kernel
    without padding and `conv2d` otherwise; anything else is lax.conv_general_dilated."""
    plain = (
        lhs.ndim == 4
        and dimension_numbers == NHWC
        and all(d == 1 for d in lhs_dilation or (1, 1))
        and all(d == 1 for d in rhs_dilation or (1, 1))
        and feature_group_count == 1
        and precision is None
        and preferred_element_type is None
        and not isinstance(padding, str)
    )
    if not plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
    explicit = tuple((int(low), int(high)) for low, high in padding)
    strides = tuple(int(s) for s in window_strides)
    if rhs.shape[:2] == (1, 1) and explicit == ((0, 0), (0, 0)):
        return pointwise(lhs, rhs, strides)
    return conv2d(lhs, rhs, strides, explicit)
