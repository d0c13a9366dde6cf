"""Multi-head attention's inner product, softmax(q k^T / sqrt(D_h)) v (ViT paper, Appendix A,
eq. 5-7), with a hand-written gradient for XLA's CPU backend.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.kernels.selection import attention_implementation

Array = jax.Array
Dtype = Any


def _attention_forward(query: Array, key: Array, value: Array) -> tuple[Array, tuple]:
    """softmax(q k^T) v per head, normalising the (tokens x head_dim) output rather than the
    (tokens x tokens) weights: the same result with fewer divisions and one pass less over the
    weights. Logits and normalisers in float32; returns (output, residuals for the gradient)."""
    logits = jnp.einsum("bnth,bnsh->bnts", query, key, preferred_element_type=jnp.float32)
    weights = jnp.exp(logits - logits.max(axis=-1, keepdims=True))
    norm = weights.sum(axis=-1, keepdims=True)
    weights = weights.astype(value.dtype)
    out = jnp.einsum("bnts,bnsh->bnth", weights, value, preferred_element_type=jnp.float32)
    out = (out / norm).astype(value.dtype)
    return out, (query, key, value, weights, norm, out)


def _attention_backward(residuals: tuple, d_out: Array) -> tuple[Array, Array, Array]:
    """Gradient of softmax attention from the unnormalised weights W and row sums l:
    with P = W / l, dV = W^T (dO / l) and dS = W * ((dO / l) V^T - rowsum((dO / l) * O))."""
    query, key, value, weights, norm, out = residuals
    d_out = d_out.astype(jnp.float32) / norm
    d_value = jnp.einsum("bnts,bnth->bnsh", weights, d_out.astype(value.dtype))
    d_weights = jnp.einsum(
        "bnth,bnsh->bnts", d_out.astype(value.dtype), value, preferred_element_type=jnp.float32
    )
    delta = (d_out * out.astype(jnp.float32)).sum(axis=-1, keepdims=True)
    d_logits = (weights.astype(jnp.float32) * (d_weights - delta)).astype(query.dtype)
    d_query = jnp.einsum("bnts,bnsh->bnth", d_logits, key)
    d_key = jnp.einsum("bnts,bnth->bnsh", d_logits, query)
    return d_query, d_key, d_value


@jax.custom_vjp
def softmax_attention(query: Array, key: Array, value: Array) -> Array:
    """softmax(q k^T) v on (batch, heads, tokens, head_dim) arrays, q already scaled."""
    return _attention_forward(query, key, value)[0]


softmax_attention.defvjp(_attention_forward, _attention_backward)


def dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    *,
    dropout_rng: Array | None = None,
    dropout_rate: float = 0.0,
    broadcast_dropout: bool = True,
    deterministic: bool = True,
    dtype: Dtype | None = None,
    module: nn.Module | None = None,
) -> Array:
    """softmax(q k^T / sqrt(D_h)) v on (batch, tokens, heads, head_dim) arrays (Appendix A).

    Without attention dropout: softmax_attention with the heads axis first (each head's
    products are then contiguous matrix products) and its hand-written gradient, about twice
    as fast on CPU as jax.nn.dot_product_attention's XLA formulation. With attention dropout it
    falls back to flax's explicit softmax, and so does a call that sows the attention weights
    (flax passes `module` when MultiHeadDotProductAttention is called with sow_weights=True).
    """
    if module is None and (deterministic or dropout_rate == 0.0):
        query = query * jnp.asarray(query.shape[-1] ** -0.5, query.dtype)
        heads_first = [jnp.swapaxes(x, 1, 2) for x in (query, key, value)]
        return jnp.swapaxes(softmax_attention(*heads_first), 1, 2)
    return nn.dot_product_attention(
        query,
        key,
        value,
        dropout_rng=dropout_rng,
        dropout_rate=dropout_rate,
        broadcast_dropout=broadcast_dropout,
        deterministic=deterministic,
        dtype=dtype,
        module=module,
    )


def library_attention(
    query: Array,
    key: Array,
    value: Array,
    *,
    dropout_rng: Array | None = None,
    dropout_rate: float = 0.0,
    broadcast_dropout: bool = True,
    deterministic: bool = True,
    dtype: Dtype | None = None,
    module: nn.Module | None = None,
) -> Array:
    """The same attention through jax.nn.dot_product_attention and automatic gradients (the
    'xla' kernels, vit_jax.kernels.selection): cuDNN's fused kernel on a GPU where it applies,
    XLA's formulation otherwise; flax's explicit softmax with attention dropout or sown weights."""
    if module is None and (deterministic or dropout_rate == 0.0):
        implementation = attention_implementation(dtype=query.dtype, head_dim=query.shape[-1])
        return jax.nn.dot_product_attention(query, key, value, implementation=implementation)
    return dot_product_attention(
        query,
        key,
        value,
        dropout_rng=dropout_rng,
        dropout_rate=dropout_rate,
        broadcast_dropout=broadcast_dropout,
        deterministic=deterministic,
        dtype=dtype,
        module=module,
    )
