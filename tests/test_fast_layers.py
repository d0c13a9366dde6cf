"""The speed-motivated layers keep the numerics of the straightforward ones: softmax attention with
its hand-written gradient vs jax.nn.dot_product_attention, BatchNorm vs flax.linen.BatchNorm
(also across devices), dense products vs lax.dot_general, 1x1 convolutions as matrix products
vs a 1x1 nn.Conv, and convolutions with the patch-matrix kernel gradient vs
lax.conv_general_dilated."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from vit_jax.kernels.attention import dot_product_attention
from vit_jax.kernels.batch_norm import BatchNorm
from vit_jax.kernels.convolution import conv_general_dilated
from vit_jax.kernels.dense import dense_dot_general
from vit_jax.kernels.pooling import max_pool


def normal(seed: int, shape: tuple[int, ...], scale: float = 1.0) -> jax.Array:
    return scale * jax.random.normal(jax.random.key(seed), shape)


def assert_trees_close(actual, expected, *, rtol: float, atol: float) -> None:
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(
            np.asarray(a, np.float32), np.asarray(e, np.float32), rtol=rtol, atol=atol
        )


def test_attention_and_gradient_match_jax_dot_product_attention():
    q, k, v = (normal(seed, (2, 7, 3, 8), 2.0) for seed in range(3))
    weights = normal(3, (2, 7, 3, 8))

    def loss(attention, q, k, v):
        return (attention(q, k, v) * weights).sum()

    grad = jax.grad(loss, argnums=(1, 2, 3))
    np.testing.assert_allclose(
        dot_product_attention(q, k, v), jax.nn.dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6
    )
    ours = grad(dot_product_attention, q, k, v)
    reference = grad(jax.nn.dot_product_attention, q, k, v)
    assert_trees_close(ours, reference, rtol=1e-4, atol=1e-5)
    assert min(float(jnp.abs(g).max()) for g in ours) > 1e-2


def test_attention_in_bfloat16_stays_close_to_float32():
    q, k, v = (normal(seed, (2, 7, 3, 8)) for seed in range(3))
    low = dot_product_attention(*(x.astype(jnp.bfloat16) for x in (q, k, v)))
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        low.astype(jnp.float32), jax.nn.dot_product_attention(q, k, v), rtol=0.05, atol=0.03
    )


def batch_norm_loss(module: nn.Module, params: dict, stats: dict, x: jax.Array):
    y, updated = module.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
    return (jnp.sin(y) * x).mean(), updated


@pytest.fixture(scope="module")
def batch_norm_case():
    x = normal(0, (4, 5, 3, 6), 3.0) + 2.0
    params = {"scale": jnp.linspace(0.5, 1.5, 6), "bias": jnp.linspace(-1.0, 1.0, 6)}
    stats = {"mean": jnp.linspace(0.0, 1.0, 6), "var": jnp.linspace(1.0, 2.0, 6)}
    return x, params, stats


def batch_norms(axis_name=None, train: bool = True) -> tuple[nn.Module, nn.Module]:
    fields = dict(
        use_running_average=not train,
        momentum=0.9,
        epsilon=1e-5,
        axis_name=axis_name,
        dtype=jnp.float32,
    )
    return BatchNorm(**fields), nn.BatchNorm(**fields)


def test_batch_norm_matches_flax_variables_values_statistics_and_gradients(batch_norm_case):
    x, params, stats = batch_norm_case
    ours, flax_bn = batch_norms()
    assert jax.tree.map(np.shape, ours.init(jax.random.key(0), x)) == jax.tree.map(
        np.shape, flax_bn.init(jax.random.key(0), x)
    )
    value_and_grad = jax.value_and_grad(batch_norm_loss, argnums=(1, 3), has_aux=True)
    (loss, updated), grads = value_and_grad(ours, params, stats, x)
    (ref_loss, ref_updated), ref_grads = value_and_grad(flax_bn, params, stats, x)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    assert_trees_close(updated, ref_updated, rtol=1e-6, atol=1e-6)
    assert_trees_close(grads, ref_grads, rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(grads[1]).max()) > 1e-3
    eval_ours, eval_flax = batch_norms(train=False)
    variables = {"params": params, "batch_stats": stats}
    np.testing.assert_allclose(
        eval_ours.apply(variables, x), eval_flax.apply(variables, x), rtol=1e-6, atol=1e-6
    )


def test_batch_norm_across_devices_matches_flax(batch_norm_case):
    """Two 'devices' of 2 examples each (vmap over axis 'data'): statistics and input gradients
    combine both devices as flax's automatic gradient through lax.pmean does."""
    x, params, stats = batch_norm_case
    shards = x.reshape(2, 2, *x.shape[1:])

    def per_device(module):
        grad = jax.value_and_grad(batch_norm_loss, argnums=(1, 3), has_aux=True)
        return jax.vmap(lambda x: grad(module, params, stats, x), axis_name="data")(shards)

    ours, flax_bn = batch_norms(axis_name="data")
    assert_trees_close(per_device(ours), per_device(flax_bn), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("lhs_shape", "rhs_shape", "contracting"),
    [((2, 5, 6), (6, 4), 1), ((2, 5, 6), (6, 3, 2), 1), ((2, 5, 3, 2), (3, 2, 6), 2)],
)
def test_dense_dot_general_matches_lax_dot_general_with_gradients(
    lhs_shape, rhs_shape, contracting
):
    lhs, rhs = normal(0, lhs_shape), normal(1, rhs_shape)
    lhs_axes = tuple(range(len(lhs_shape) - contracting, len(lhs_shape)))
    dims = ((lhs_axes, tuple(range(contracting))), ((), ()))
    weights = normal(2, lhs_shape[: len(lhs_shape) - contracting] + rhs_shape[contracting:])

    def loss(dot_general, lhs, rhs):
        return (dot_general(lhs, rhs, dims) * weights).sum()

    np.testing.assert_allclose(
        dense_dot_general(lhs, rhs, dims), lax.dot_general(lhs, rhs, dims), rtol=1e-5, atol=1e-5
    )
    grad = jax.grad(loss, argnums=(1, 2))
    assert_trees_close(
        grad(dense_dot_general, lhs, rhs), grad(lax.dot_general, lhs, rhs), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("strides", [1, 2])
def test_pointwise_conv_equals_1x1_conv_in_init_values_and_gradients(strides):
    x = normal(0, (2, 7, 5, 6))
    fields = dict(
        features=4,
        kernel_size=(1, 1),
        strides=(strides, strides),
        padding=((0, 0), (0, 0)),
        use_bias=False,
        kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"),
    )
    ours = nn.Conv(**fields, conv_general_dilated=conv_general_dilated)
    conv = nn.Conv(**fields)
    jaxpr = str(jax.make_jaxpr(lambda x: ours.apply(ours.init(jax.random.key(3), x), x))(x))
    assert "conv_general_dilated" not in jaxpr  # a matrix product, not a convolution
    variables = ours.init(jax.random.key(3), x)
    assert_trees_close(variables, conv.init(jax.random.key(3), x), rtol=0, atol=0)
    out = ours.apply(variables, x)
    assert out.shape == (2, -(-7 // strides), -(-5 // strides), 4)
    np.testing.assert_allclose(out, conv.apply(variables, x), rtol=1e-5, atol=1e-6)

    def loss(module, variables, x):
        return jnp.sin(module.apply(variables, x)).sum()

    grad = jax.grad(loss, argnums=(1, 2))
    assert_trees_close(grad(ours, variables, x), grad(conv, variables, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("kernel", "strides", "padding", "size"),
    [
        (3, 1, 1, (9, 7)),
        (3, 2, 1, (9, 8)),
        (7, 2, 3, (12, 11)),
        (2, 1, 0, (5, 6)),
        (3, 2, 0, (8, 9)),
    ],
)
def test_conv_with_patch_gradient_equals_lax_conv_in_values_and_gradients(
    kernel, strides, padding, size
):
    x = normal(0, (2, *size, 5))
    fields = dict(
        features=4,
        kernel_size=(kernel, kernel),
        strides=(strides, strides),
        padding=((padding, padding), (padding, padding)),
        use_bias=False,
    )
    ours = nn.Conv(**fields, conv_general_dilated=conv_general_dilated)
    reference = nn.Conv(**fields)
    variables = reference.init(jax.random.key(1), x)
    np.testing.assert_allclose(
        ours.apply(variables, x), reference.apply(variables, x), rtol=1e-6, atol=1e-6
    )

    def loss(module, variables, x):
        return jnp.sin(module.apply(variables, x)).sum()

    grad = jax.grad(loss, argnums=(1, 2))
    ours_grad = grad(ours, variables, x)
    assert_trees_close(ours_grad, grad(reference, variables, x), rtol=1e-5, atol=1e-5)
    assert min(float(jnp.abs(g).max()) for g in jax.tree.leaves(ours_grad)) > 1e-2


def test_conv_with_unsupported_arguments_is_lax_conv():
    x, kernel = normal(0, (1, 6, 6, 4)), normal(1, (3, 3, 2, 4))
    dims = lax.conv_dimension_numbers(x.shape, kernel.shape, ("NHWC", "HWIO", "NHWC"))
    args = dict(dimension_numbers=dims, feature_group_count=2, rhs_dilation=(2, 2))
    np.testing.assert_array_equal(
        conv_general_dilated(x, kernel, (1, 1), "SAME", **args),
        lax.conv_general_dilated(x, kernel, (1, 1), "SAME", **args),
    )


@pytest.mark.parametrize(
    "window, stride, padding, size",
    [
        (3, 2, 1, (12, 12)),
        (3, 2, 1, (9, 8)),
        (2, 2, 0, (6, 7)),
        (3, 1, 1, (5, 6)),
        (3, 3, 0, (9, 9)),
    ],
)
def test_max_pool_equals_flax_in_values_and_gradients_with_ties(window, stride, padding, size):
    x = normal(0, (2, *size, 3))
    x = x.at[:, ::2, 1::3].set(0.75)  # equal maxima within and across windows
    pad = ((padding, padding), (padding, padding))

    def reference(x):
        return nn.max_pool(x, (window, window), strides=(stride, stride), padding=pad)

    def ours(x):
        return max_pool(x, window, stride, pad)

    np.testing.assert_array_equal(ours(x), reference(x))
    d_y = normal(1, reference(x).shape)
    ours_grad = jax.vjp(ours, x)[1](d_y)[0]
    np.testing.assert_allclose(ours_grad, jax.vjp(reference, x)[1](d_y)[0], rtol=1e-6, atol=1e-6)
    # Every output's cotangent lands on exactly one input.
    np.testing.assert_allclose(ours_grad.sum(), d_y.sum(), rtol=1e-5, atol=1e-5)
