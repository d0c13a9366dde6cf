"""ResNet v1.5 with BatchNorm (He et al., CVPR 2016, Table 1; torchvision / HF microsoft/resnet-*).

The paper's ResNet baselines (Dosovitskiy et al., section 4.1) are BiT ResNets (models_bit.py); this
is the standard BatchNorm ResNet, whose ImageNet-1k weights are widely published. "v1.5" puts the
stride of a downsampling bottleneck on its 3x3 convolution. Padding is explicit and symmetric as
in torchvision ('SAME' pads stride-2 layers asymmetrically, a different network). BatchNorm:
epsilon 1e-5, running-average momentum 0.9 (torch momentum 0.1), no convolution biases.

For speed on XLA's CPU backend (same parameters and results): 1x1 convolutions are matrix
products (PointwiseConv), the other convolutions take their kernel gradient as one matrix product
(vit_jax.kernels.convolution), BatchNorm and the stem's max-pool have hand-written gradients
(vit_jax.kernels.batch_norm, vit_jax.kernels.pooling).
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from vit_jax.kernels import selection
from vit_jax.kernels.batch_norm import BatchNorm
from vit_jax.kernels.convolution import conv_general_dilated
from vit_jax.kernels.dense import matmul
from vit_jax.kernels.pooling import max_pool
from vit_jax.models.layers import Stage, classification_head

Array = jax.Array
Dtype = Any

# torchvision initialisation: kaiming_normal_(mode='fan_out', nonlinearity='relu').
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _conv(
    features: int, kernel: int, strides: int, *, pad: int, dtype: Dtype, kernels: str, name: str
) -> nn.Conv:
    """A bias-free convolution, its kernel gradient as one patch product with kernels='cpu'."""
    return nn.Conv(
        features,
        (kernel, kernel),
        (strides, strides),
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        kernel_init=conv_init,
        dtype=dtype,
        conv_general_dilated=conv_general_dilated if kernels == "cpu" else lax.conv_general_dilated,
        name=name,
    )


def _batch_norm(*, kernels: str, **fields: Any) -> nn.Module:
    """BatchNorm with the hand-written gradient ('cpu') or flax's own ('xla'): the same
    parameters, statistics and values."""
    return (BatchNorm if kernels == "cpu" else nn.BatchNorm)(**fields)


class PointwiseConv(nn.Module):
    """A 1x1 convolution (stride s, no padding, no bias) as a matrix product over channels.

    Same parameter as nn.Conv (`kernel` (1, 1, in, out), same initialisation) and the same
    result: a strided 1x1 convolution reads every s-th pixel. XLA's CPU backend computes the
    kernel gradient of a matrix product (vit_jax.kernels.dense) several times faster than that of a
    convolution.
    """

    features: int
    strides: int
    dtype: Dtype

    @nn.compact
    def __call__(self, x: Array) -> Array:
        kernel = self.param("kernel", conv_init, (1, 1, x.shape[-1], self.features))
        x = x[:, :: self.strides, :: self.strides, :]
        x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
        return matmul(x.reshape(-1, x.shape[-1]), kernel[0, 0]).reshape(*x.shape[:-1], -1)


class Bottleneck(nn.Module):
    """Bottleneck unit: ReLU(BN(proj(x)) + BN(conv3(ReLU(BN(conv2(ReLU(BN(conv1(x))))))))."""

    features: int
    strides: int
    train: bool
    batch_norm_epsilon: float
    batch_norm_momentum: float
    axis_name: str | None
    dtype: Dtype
    kernels: str = "cpu"  # resolved: 'cpu' or 'xla' (vit_jax.kernels.selection)

    def _batch_norm(self, name: str) -> nn.Module:
        return _batch_norm(
            kernels=self.kernels,
            use_running_average=not self.train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name=name,
        )

    def _conv(self, features: int, kernel: int, strides: int, name: str) -> nn.Module:
        if kernel == 1 and self.kernels == "cpu":
            return PointwiseConv(features, strides, self.dtype, name=name)
        pad = (kernel - 1) // 2
        return _conv(
            features, kernel, strides, pad=pad, dtype=self.dtype, kernels=self.kernels, name=name
        )

    @nn.compact
    def __call__(self, x: Array) -> Array:
        out_features = 4 * self.features
        residual = x
        if x.shape[-1] != out_features or self.strides != 1:
            residual = self._conv(out_features, 1, self.strides, "conv_proj")(x)
            residual = self._batch_norm("bn_proj")(residual)
        y = nn.relu(self._batch_norm("bn1")(self._conv(self.features, 1, 1, "conv1")(x)))
        y = nn.relu(self._batch_norm("bn2")(self._conv(self.features, 3, self.strides, "conv2")(y)))
        y = self._batch_norm("bn3")(self._conv(out_features, 1, 1, "conv3")(y))
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
        kernels = selection.resolve(self.kernels)
        x = _conv(64, 7, 2, pad=3, dtype=self.dtype, kernels=kernels, name="conv_root")(
            inputs.astype(self.dtype)
        )
        x = _batch_norm(
            kernels=kernels,
            use_running_average=not train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name="bn_root",
        )(x)
        x = nn.relu(x)
        if kernels == "cpu":
            x = max_pool(x, 3, 2, ((1, 1), (1, 1)))
        else:
            x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        unit_fields = {
            "train": train,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "batch_norm_momentum": self.batch_norm_momentum,
            "axis_name": self.axis_name,
            "dtype": self.dtype,
            "kernels": kernels,
        }
        for stage, num_units in enumerate(self.num_layers):
            x = Stage(
                unit=Bottleneck,
                unit_fields=unit_fields,
                num_units=num_units,
                features=64 * 2**stage,
                first_stride=1 if stage == 0 else 2,
                remat=self.remat,
                unroll=self.unroll or kernels == "xla",
                name=f"block{stage + 1}",
            )(x)
        x = jnp.mean(x, axis=(1, 2))
        return classification_head(x, num_classes=self.num_classes, dtype=self.dtype)
