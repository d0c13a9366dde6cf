"""Weight-standardised, GroupNorm ResNets: BiT ResNetV2 and the ViT-hybrid's R50 backbone.

- BiT (Kolesnikov et al., "Big Transfer", ECCV 2020, section 2.4): pre-activation ResNet-v2
  bottlenecks, GroupNorm (32 groups) and weight standardisation instead of BatchNorm.
- ViT hybrid (Dosovitskiy et al., section 3.1 "Hybrid Architecture" and Appendix D.4): the R50 of
  BiT but with post-activation (v1) units, a GroupNorm on the projection shortcut and stages
  (3, 4, 9); its stage-3 feature map (stride 16) is the input of the 1x1 patch embedding.
Parameter names follow docs/ARCHITECTURE.md, contract 1 (checkpoints load by name).
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.kernels.implementations import choose
from vit_jax.models.layers import Stage, classification_head

Array = jax.Array
Dtype = Any

GROUPS = 32
# ViT-hybrid: flax.linen.GroupNorm default epsilon as in the original vit_jax models.
HYBRID_GROUP_NORM_EPSILON = 1e-6
# ViT-hybrid weight standardisation: (w - mean) / (std + 1e-5); BiT: (w - mean) / sqrt(var + 1e-10).
HYBRID_WEIGHT_EPSILON = 1e-5
BIT_WEIGHT_EPSILON = 1e-10


class StdConv(nn.Conv):
    """Convolution with weight standardisation per output channel over (H, W, C_in).

    w' = (w - mean) / sqrt(var + weight_epsilon), or (w - mean) / (std + weight_epsilon) when
    epsilon_on_std (the ViT-hybrid variant). The stored parameter is the raw kernel.
    """

    weight_epsilon: float = BIT_WEIGHT_EPSILON
    epsilon_on_std: bool = False

    def param(self, name: str, init_fn: Any, *init_args: Any, **init_kwargs: Any) -> Any:
        value = super().param(name, init_fn, *init_args, **init_kwargs)
        if name != "kernel":
            return value
        centred = value - jnp.mean(value, axis=(0, 1, 2), keepdims=True)
        variance = jnp.var(value, axis=(0, 1, 2), keepdims=True)
        if self.epsilon_on_std:
            return centred / (jnp.sqrt(variance) + self.weight_epsilon)
        return centred / jnp.sqrt(variance + self.weight_epsilon)


class PreActBottleneck(nn.Module):
    """BiT pre-activation bottleneck: x + conv3(GN-ReLU(conv2(GN-ReLU(conv1(GN-ReLU(x))))))."""

    features: int
    strides: int
    group_norm_epsilon: float
    dtype: Dtype

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_features = 4 * self.features
        conv = partial(StdConv, use_bias=False, dtype=self.dtype)
        norm = partial(
            nn.GroupNorm, num_groups=GROUPS, epsilon=self.group_norm_epsilon, dtype=self.dtype
        )
        strides = (self.strides, self.strides)
        pre_activated = nn.relu(norm(name="gn1")(x))
        residual = x
        if x.shape[-1] != out_features or self.strides != 1:
            residual = conv(out_features, (1, 1), strides, name="conv_proj")(pre_activated)
        y = conv(self.features, (1, 1), name="conv1")(pre_activated)
        y = nn.relu(norm(name="gn2")(y))
        y = conv(self.features, (3, 3), strides, padding=((1, 1), (1, 1)), name="conv2")(y)
        y = nn.relu(norm(name="gn3")(y))
        y = conv(out_features, (1, 1), name="conv3")(y)
        return y + residual


class ResNetV2(nn.Module):
    """BiT ResNet-v2 classifier: StdConv stem, four pre-activation stages, GN-ReLU, pool, head.

    `unroll` runs every stage unrolled (see vit_jax.models.layers.Stage); the parameters are the
    same.
    """

    num_classes: int
    num_layers: Sequence[int]
    width_factor: int = 1
    group_norm_epsilon: float = 1e-5
    dtype: Dtype = jnp.float32
    remat: bool = False
    unroll: bool = False
    kernels: str = "auto"  # vit_jax.kernels.selection; only whether long stages are scanned

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool) -> Array:
        del train  # GroupNorm and no dropout: identical in training and evaluation.
        unroll = self.unroll or not choose(self.kernels).scan_stages
        width = 64 * self.width_factor
        x = StdConv(
            width,
            (7, 7),
            (2, 2),
            padding=((3, 3), (3, 3)),
            use_bias=False,
            dtype=self.dtype,
            name="conv_root",
        )(inputs.astype(self.dtype))
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
        for stage, num_units in enumerate(self.num_layers):
            x = Stage(
                unit=PreActBottleneck,
                unit_fields={"group_norm_epsilon": self.group_norm_epsilon, "dtype": self.dtype},
                num_units=num_units,
                features=width * 2**stage,
                first_stride=1 if stage == 0 else 2,
                remat=self.remat,
                unroll=unroll,
                name=f"block{stage + 1}",
            )(x)
        x = nn.GroupNorm(
            num_groups=GROUPS, epsilon=self.group_norm_epsilon, dtype=self.dtype, name="norm"
        )(x)
        x = jnp.mean(nn.relu(x), axis=(1, 2))
        return classification_head(x, num_classes=self.num_classes, dtype=self.dtype)


class HybridUnit(nn.Module):
    """ViT-hybrid bottleneck (post-activation): ReLU(GN(proj(x)) + GN(conv3(...conv1(x))))."""

    features: int
    strides: int
    dtype: Dtype

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_features = 4 * self.features
        conv = partial(
            StdConv,
            use_bias=False,
            dtype=self.dtype,
            weight_epsilon=HYBRID_WEIGHT_EPSILON,
            epsilon_on_std=True,
        )
        norm = partial(
            nn.GroupNorm, num_groups=GROUPS, epsilon=HYBRID_GROUP_NORM_EPSILON, dtype=self.dtype
        )
        strides = (self.strides, self.strides)
        residual = x
        if x.shape[-1] != out_features or self.strides != 1:
            residual = conv(out_features, (1, 1), strides, name="conv_proj")(x)
            residual = norm(name="gn_proj")(residual)
        y = nn.relu(norm(name="gn1")(conv(self.features, (1, 1), name="conv1")(x)))
        y = nn.relu(norm(name="gn2")(conv(self.features, (3, 3), strides, name="conv2")(y)))
        y = conv(out_features, (1, 1), name="conv3")(y)
        y = norm(scale_init=nn.initializers.zeros, name="gn3")(y)
        return nn.relu(residual + y)


def hybrid_backbone(
    x: Array,
    *,
    num_layers: Sequence[int],
    width_factor: int,
    dtype: Dtype,
    remat: bool,
    unroll: bool = False,
) -> Array:
    """R50 feature extractor of the ViT hybrid, built in the CALLER's scope.

    Call it from inside a compact method: conv_root, gn_root and block{1..n} become direct
    children of the calling module, as in the released R50+ViT checkpoints. Convolutions and the
    max-pool use 'SAME' padding, as the network those checkpoints were trained with.
    """
    width = 64 * width_factor
    x = StdConv(
        width,
        (7, 7),
        (2, 2),
        use_bias=False,
        dtype=dtype,
        weight_epsilon=HYBRID_WEIGHT_EPSILON,
        epsilon_on_std=True,
        name="conv_root",
    )(x)
    x = nn.GroupNorm(
        num_groups=GROUPS, epsilon=HYBRID_GROUP_NORM_EPSILON, dtype=dtype, name="gn_root"
    )(x)
    x = nn.max_pool(nn.relu(x), (3, 3), strides=(2, 2), padding="SAME")
    for stage, num_units in enumerate(num_layers):
        x = Stage(
            unit=HybridUnit,
            unit_fields={"dtype": dtype},
            num_units=num_units,
            features=width * 2**stage,
            first_stride=1 if stage == 0 else 2,
            remat=remat,
            unroll=unroll,
            name=f"block{stage + 1}",
        )(x)
    return x
