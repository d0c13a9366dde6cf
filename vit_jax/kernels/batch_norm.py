"""Batch normalisation (Ioffe & Szegedy, ICML 2015) with a hand-written gradient.

    y = (x - mu) / sqrt(var + eps) * scale + bias,   mu, var over all axes but the last

The variables, their initial values and the forward result are those of flax.linen.BatchNorm
(statistics in float32 with var = E[x^2] - E[x]^2 clipped at 0, running averages
m * old + (1 - m) * new, averaging over the devices of `axis_name`). Only training-mode
gradients differ in how they are computed: with x_hat = (x - mu) / sqrt(var + eps), N examples
and sums over them,

    d_bias = sum(dy),  d_scale = sum(dy * x_hat),
    d_x = scale / sqrt(var + eps) * (dy - d_bias / N - x_hat * d_scale / N),

two passes over the activations where XLA's automatic gradient of the statistics takes several
(measured: the batch-norm gradient was the largest share of a ResNet-50 training step on CPU).
With `axis_name` the sums in d_x run over all devices' examples (d_x is the gradient of the sum
of the devices' losses, as automatic differentiation through lax.pmean gives); d_scale and
d_bias are the device's own, averaged later with the other parameter gradients.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array


def batch_statistics(x: Array, *, axis_name: str | None) -> tuple[Array, Array]:
    """Mean and biased variance (float32) over all axes but the last, averaged over `axis_name`."""
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    axes = tuple(range(x.ndim - 1))
    moments = jnp.stack([x.mean(axes), jnp.square(x).mean(axes)])
    if axis_name is not None:
        moments = lax.pmean(moments, axis_name)
    mean, mean_square = moments
    return mean, jnp.maximum(0.0, mean_square - jnp.square(mean))


def _normalize(x: Array, mean: Array, inv_std: Array, scale: Array, bias: Array) -> Array:
    return ((x - mean) * (inv_std * scale) + bias).astype(x.dtype)


def _forward(
    x: Array, scale: Array, bias: Array, epsilon: float, axis_name: str | None
) -> tuple[tuple[Array, Array, Array], tuple]:
    mean, var = batch_statistics(x, axis_name=axis_name)
    inv_std = lax.rsqrt(var + epsilon)
    return (_normalize(x, mean, inv_std, scale, bias), mean, var), (x, mean, inv_std, scale)


def _backward(epsilon: float, axis_name: str | None, residuals: tuple, cotangents: tuple):
    del epsilon
    x, mean, inv_std, scale = residuals
    d_y = cotangents[0].astype(mean.dtype)
    axes = tuple(range(x.ndim - 1))
    x_hat = (x.astype(mean.dtype) - mean) * inv_std
    d_bias, d_scale = jnp.stack([d_y.sum(axes), (d_y * x_hat).sum(axes)])
    mean_d_bias, mean_d_scale = jnp.stack([d_bias, d_scale]) / (x.size // x.shape[-1])
    if axis_name is not None:
        mean_d_bias, mean_d_scale = lax.pmean(jnp.stack([mean_d_bias, mean_d_scale]), axis_name)
    d_x = (inv_std * scale) * (d_y - mean_d_bias - x_hat * mean_d_scale)
    return d_x.astype(x.dtype), d_scale, d_bias


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def batch_normalize(
    x: Array, scale: Array, bias: Array, epsilon: float, axis_name: str | None
) -> tuple[Array, Array, Array]:
    """(normalised x, batch mean, batch variance); the statistics carry no gradient."""
    return _forward(x, scale, bias, epsilon, axis_name)[0]


batch_normalize.defvjp(_forward, _backward)


class BatchNorm(nn.Module):
    """Drop-in for flax.linen.BatchNorm over the last axis (params scale, bias; batch_stats
    mean, var), with the gradient above in training mode."""

    use_running_average: bool
    momentum: float
    epsilon: float
    axis_name: str | None
    dtype: Any

    @nn.compact
    def __call__(self, x: Array) -> Array:
        features = (x.shape[-1],)
        scale = self.param("scale", nn.initializers.ones, features)
        bias = self.param("bias", nn.initializers.zeros, features)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, features, jnp.float32)
        ra_var = self.variable("batch_stats", "var", jnp.ones, features, jnp.float32)
        x = x.astype(self.dtype)
        if self.use_running_average:
            inv_std = lax.rsqrt(ra_var.value + self.epsilon)
            return _normalize(x, ra_mean.value, inv_std, scale, bias)
        axis_name = None if self.is_initializing() else self.axis_name
        y, mean, var = batch_normalize(x, scale, bias, self.epsilon, axis_name)
        if not self.is_initializing():
            mean, var = lax.stop_gradient((mean, var))
            ra_mean.value = self.momentum * ra_mean.value + (1 - self.momentum) * mean
            ra_var.value = self.momentum * ra_var.value + (1 - self.momentum) * var
        return y
