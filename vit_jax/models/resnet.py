"""ResNet v1.5 with BatchNorm (He et al., CVPR 2016, Table 1; torchvision / HF microsoft/resnet-*).

The paper's ResNet baselines (Dosovitskiy et al., section 4.1) are BiT ResNets (models_bit.py); this
is the standard BatchNorm ResNet, whose ImageNet-1k weights are widely published. "v1.5" puts the
stride of a downsampling bottleneck on its 3x3 convolution. Padding is explicit and symmetric as
in torchvision ('SAME' pads stride-2 layers asymmetrically, a different network). BatchNorm:
epsilon 1e-5, running-average momentum 0.9 (torch momentum 0.1), no convolution biases.

The layers' implementations (nn.Conv's `conv_general_dilated`, the BatchNorm class, max
pooling) come from vit_jax.kernels.implementations, chosen once from the `kernels` field: on
XLA's CPU backend, convolutions and BatchNorm with hand-written gradients, the same parameters
and results.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.kernels.implementations import XLA, Implementations, choose
from vit_jax.models.layers import Stage, classification_head

Array = jax.Array
Dtype = Any

# torchvision initialisation: kaiming_normal_(mode='fan_out', nonlinearity='relu').
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def conv(features: int, kernel: int, strides: int, *, dtype: Dtype, ops: Implementations, name):
    """A bias-free k x k convolution with symmetric padding (k - 1) // 2, as torchvision's."""
    pad = (kernel - 1) // 2
    return nn.Conv(
        features,
        (kernel, kernel),
        (strides, strides),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=conv_init,
        dtype=dtype,
        conv_general_dilated=ops.conv_general_dilated,
        name=name,
    )


class Bottleneck(nn.Module):
    """Bottleneck unit: ReLU(BN(proj(x)) + BN(conv3(ReLU(BN(conv2(ReLU(BN(conv1(x))))))))."""

    features: int
    strides: int
    train: bool
    batch_norm_epsilon: float
    batch_norm_momentum: float
    axis_name: str | None
    dtype: Dtype
    ops: Implementations = XLA  # vit_jax.kernels.implementations

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_features = 4 * self.features
        conv_ = partial(conv, dtype=self.dtype, ops=self.ops)
        norm = partial(
            self.ops.batch_norm,
            use_running_average=not self.train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
        )
        residual = x
        if x.shape[-1] != out_features or self.strides != 1:
            residual = conv_(out_features, 1, self.strides, name="conv_proj")(x)
            residual = norm(name="bn_proj")(residual)
        y = nn.relu(norm(name="bn1")(conv_(self.features, 1, 1, name="conv1")(x)))
        y = nn.relu(norm(name="bn2")(conv_(self.features, 3, self.strides, name="conv2")(y)))
        y = norm(name="bn3")(conv_(out_features, 1, 1, name="conv3")(y))
        return nn.relu(residual + y)


class ResNet(nn.Module):
    """ResNet v1.5 classifier: 7x7/2 stem, 3x3/2 max-pool, four bottleneck stages, pool, head.

    `unroll` runs every stage unrolled (see Stage); the parameters are the same either way.
    """

    num_classes: int
    num_layers: Sequence[int]
    batch_norm_epsilon: float = 1e-5
    batch_norm_momentum: float = 0.9
    axis_name: str | None = None
    dtype: Dtype = jnp.float32
    remat: bool = False
    unroll: bool = False
    kernels: str = "auto"  # vit_jax.kernels.selection: 'auto', 'cpu' or 'xla'

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool) -> Array:
        ops = choose(self.kernels)
        x = conv(64, 7, 2, dtype=self.dtype, ops=ops, name="conv_root")(inputs.astype(self.dtype))
        x = ops.batch_norm(
            use_running_average=not train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name="bn_root",
        )(x)
        x = ops.max_pool(nn.relu(x), 3, 2, ((1, 1), (1, 1)))
        unit_fields = {
            "train": train,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "batch_norm_momentum": self.batch_norm_momentum,
            "axis_name": self.axis_name,
            "dtype": self.dtype,
            "ops": ops,
        }
        for stage, num_units in enumerate(self.num_layers):
            x = Stage(
                unit=Bottleneck,
                unit_fields=unit_fields,
                num_units=num_units,
                features=64 * 2**stage,
                first_stride=1 if stage == 0 else 2,
                remat=self.remat,
                unroll=self.unroll or not ops.scan_stages,
                name=f"block{stage + 1}",
            )(x)
        x = jnp.mean(x, axis=(1, 2))
        return classification_head(x, num_classes=self.num_classes, dtype=self.dtype)
