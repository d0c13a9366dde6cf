"""Vision Transformer (Dosovitskiy et al., ICLR 2021), section 3.1, equations (1)-(4).

    z_0 = [x_class; x_p^1 E; ...; x_p^N E] + E_pos              (1)  patch embedding, class token,
                                                                      position embedding
    z'_l = MSA(LN(z_{l-1})) + z_{l-1}                           (2)  encoder block, attention half
    z_l = MLP(LN(z'_l)) + z'_l                                  (3)  encoder block, MLP half
    y = LN(z_L^0)                                               (4)  final LayerNorm, class token

followed by the MLP head: an optional pre-logits layer (tanh, pre-training) and a classification
head initialised to zero (section 3.2). Parameter names are those of the original vit_jax Linen
models (docs/ARCHITECTURE.md, contract 1), so released checkpoints load by name. The dense
layers' products and attention's inner product come from vit_jax.kernels.implementations,
chosen once from the `kernels` field (flax's `dot_general=` and `attention_fn=`).
"""

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.kernels.implementations import XLA, Implementations, choose
from vit_jax.models.bit import hybrid_backbone
from vit_jax.models.layers import classification_head

Array = jax.Array
Dtype = Any
SOWN = "intermediates"


class AddPositionEmbedding(nn.Module):
    """Learned 1-D position embedding E_pos of eq. (1), sized from the token count at init.

    Applying it to a different token count raises flax's ScopeParamShapeError naming
    pos_embedding; checkpoint loading resizes the embedding for a new image size.
    """

    @nn.compact
    def __call__(self, inputs: Array) -> Array:
        _, num_tokens, width = inputs.shape
        pos_embedding = self.param(
            "pos_embedding", nn.initializers.normal(stddev=0.02), (1, num_tokens, width)
        )
        return inputs + pos_embedding.astype(inputs.dtype)


class MlpBlock(nn.Module):
    """MLP of eq. (3): two dense layers with a GELU non-linearity (section 3.1)."""

    mlp_dim: int
    dropout_rate: float
    gelu_approximate: bool
    dtype: Dtype
    ops: Implementations = XLA  # vit_jax.kernels.implementations

    @nn.compact
    def __call__(self, inputs: Array, *, deterministic: bool) -> Array:
        dense = dict(
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            bias_init=nn.initializers.normal(stddev=1e-6),
            dot_general=self.ops.dot_general,
        )
        x = nn.Dense(self.mlp_dim, **dense)(inputs)
        x = nn.gelu(x, approximate=self.gelu_approximate)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        x = nn.Dense(inputs.shape[-1], **dense)(x)
        return nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)


class EncoderBlock(nn.Module):
    """Pre-LayerNorm Transformer encoder block, eqs. (2) and (3).

    With `class_token_only` it returns z_l for the class token alone: the class token attends to
    all tokens (keys and values from every token), but its query, the attention output
    projection and the MLP run on one token. Eq. (4) reads only z_L^0, so the last block of the
    classifier needs no more (the same values, about 1/13 fewer FLOPs for ViT-B/16 at 224).

    Applied with the SOWN collection mutable, the block sows its attention weights softmax(q k^T)
    as (batch, heads, queries, keys) into it ('attention_weights' of its attention module);
    otherwise they are never formed outside the attention kernel.
    """

    mlp_dim: int
    num_heads: int
    dropout_rate: float
    attention_dropout_rate: float
    gelu_approximate: bool
    layer_norm_epsilon: float
    dtype: Dtype
    ops: Implementations = XLA

    @nn.compact
    def __call__(self, inputs: Array, deterministic: bool, class_token_only: bool = False) -> Array:
        x = nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype)(inputs)
        if class_token_only:
            inputs = inputs[:, :1]
        x = nn.MultiHeadDotProductAttention(
            num_heads=self.num_heads,
            dtype=self.dtype,
            kernel_init=nn.initializers.xavier_uniform(),
            broadcast_dropout=False,
            dropout_rate=self.attention_dropout_rate,
            deterministic=deterministic,
            attention_fn=self.ops.attention_fn,
            qkv_dot_general=self.ops.dot_general,
            out_dot_general=self.ops.dot_general,
        )(
            x[:, :1] if class_token_only else x,
            x,
            sow_weights=self.is_mutable_collection(SOWN),
        )
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=deterministic)
        x = x + inputs

        y = nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype)(x)
        y = MlpBlock(
            mlp_dim=self.mlp_dim,
            dropout_rate=self.dropout_rate,
            gelu_approximate=self.gelu_approximate,
            dtype=self.dtype,
            ops=self.ops,
        )(y, deterministic=deterministic)
        return x + y


class Encoder(nn.Module):
    """Position embedding, L encoder blocks and the final LayerNorm of eq. (4), for the class
    token: returns LN(z_L^0), shape (batch, hidden_size). When attention is sown (SOWN mutable),
    the last block runs on every token so that its attention rows are complete. With classifier
    'gap' (no class token; Appendix D.3, Figure 9) it returns the mean of LN(z_L) over the
    tokens."""

    num_layers: int
    mlp_dim: int
    num_heads: int
    dropout_rate: float
    attention_dropout_rate: float
    gelu_approximate: bool
    layer_norm_epsilon: float
    dtype: Dtype
    remat: bool
    ops: Implementations = XLA
    classifier: str = "token"

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        token = self.classifier == "token"
        x = AddPositionEmbedding(name="posembed_input")(x)
        x = nn.Dropout(rate=self.dropout_rate)(x, deterministic=not train)
        block_cls = nn.remat(EncoderBlock, static_argnums=(2, 3)) if self.remat else EncoderBlock
        for i in range(self.num_layers):
            x = block_cls(
                mlp_dim=self.mlp_dim,
                num_heads=self.num_heads,
                dropout_rate=self.dropout_rate,
                attention_dropout_rate=self.attention_dropout_rate,
                gelu_approximate=self.gelu_approximate,
                layer_norm_epsilon=self.layer_norm_epsilon,
                dtype=self.dtype,
                ops=self.ops,
                name=f"encoderblock_{i}",
            )(
                x,
                not train,
                token and i == self.num_layers - 1 and not self.is_mutable_collection(SOWN),
            )
        norm = nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype, name="encoder_norm")
        return norm(x[:, 0]) if token else jnp.mean(norm(x), axis=1)


class VisionTransformer(nn.Module):
    """ViT classifier (Table 1 sizes; the R50 hybrid of section 3.1 when `resnet` is given)."""

    num_classes: int
    patches: tuple[int, int]
    hidden_size: int
    mlp_dim: int
    num_heads: int
    num_layers: int
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    representation_size: int | None = None
    classifier: str = "token"  # or "gap": global average pooling, no class token (App. D.3)
    gelu_approximate: bool = True
    layer_norm_epsilon: float = 1e-6
    resnet: Mapping[str, Any] | None = None
    dtype: Dtype = jnp.float32
    remat: bool = False
    kernels: str = "auto"  # vit_jax.kernels.selection: 'auto', 'cpu' or 'xla'

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool) -> Array:
        ops = choose(self.kernels)
        if self.classifier not in ("token", "gap"):
            raise ValueError(f"classifier={self.classifier!r} is not supported; use token or gap")
        x = inputs.astype(self.dtype)
        if self.resnet is not None:
            x = hybrid_backbone(
                x,
                num_layers=tuple(self.resnet["num_layers"]),
                width_factor=self.resnet["width_factor"],
                dtype=self.dtype,
                remat=self.remat,
                unroll=self.resnet.get("unroll", False) or not ops.scan_stages,
            )
        height, width = x.shape[1:3]
        if height % self.patches[0] or width % self.patches[1]:
            raise ValueError(
                f"input grid {height}x{width} is not divisible by the patch size {self.patches}"
            )
        x = nn.Conv(
            self.hidden_size,
            kernel_size=self.patches,
            strides=self.patches,
            padding="VALID",
            dtype=self.dtype,
            name="embedding",
        )(x)
        batch, grid_h, grid_w, channels = x.shape
        x = x.reshape(batch, grid_h * grid_w, channels)
        if self.classifier == "token":
            cls = self.param("cls", nn.initializers.zeros, (1, 1, channels))
            x = jnp.concatenate([jnp.broadcast_to(cls, (batch, 1, channels)).astype(x.dtype), x], 1)

        x = Encoder(
            num_layers=self.num_layers,
            mlp_dim=self.mlp_dim,
            num_heads=self.num_heads,
            dropout_rate=self.dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            gelu_approximate=self.gelu_approximate,
            layer_norm_epsilon=self.layer_norm_epsilon,
            dtype=self.dtype,
            remat=self.remat,
            ops=ops,
            classifier=self.classifier,
            name="Transformer",
        )(x, train=train)
        if self.representation_size is not None:
            x = nn.tanh(nn.Dense(self.representation_size, dtype=self.dtype, name="pre_logits")(x))
        return classification_head(x, num_classes=self.num_classes, dtype=self.dtype)
