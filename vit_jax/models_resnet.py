"""ResNet v1.5 with BatchNorm (He et al., CVPR 2016, Table 1; torchvision / HF microsoft/resnet-*).

The paper's ResNet baselines (Dosovitskiy et al., section 4.1) are BiT ResNets (models_bit.py); this
is the standard BatchNorm ResNet, whose ImageNet-1k weights are widely published. "v1.5" puts the
stride of a downsampling bottleneck on its 3x3 convolution. Padding is explicit and symmetric as
in torchvision ('SAME' pads stride-2 layers asymmetrically, a different network). BatchNorm:
epsilon 1e-5, running-average momentum 0.9 (torch momentum 0.1), no convolution biases.

For speed on XLA's CPU backend (same parameters and results): 1x1 convolutions are matrix
products (PointwiseConv), the other convolutions take their kernel gradient as one matrix product
(vit_jax.convolution) and BatchNorm has a hand-written gradient (vit_jax.batch_norm).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vit_jax.batch_norm import BatchNorm
from vit_jax.convolution import conv_general_dilated
from vit_jax.matmul import matmul

Array = jax.Array
Dtype = Any

# torchvision initialisation: kaiming_normal_(mode='fan_out', nonlinearity='relu').
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def classification_head(x: jax.Array, *, num_classes: int, dtype) -> jax.Array:
    """The classification head, initialised to zero (ViT paper, section 3.2), as float32 logits.
    Called inside a compact module, it becomes that module's `head` parameters."""
    logits = nn.Dense(
        num_classes,
        dtype=dtype,
        kernel_init=nn.initializers.zeros,
        bias_init=nn.initializers.zeros,
        name="head",
    )(x)
    return logits.astype(jnp.float32)


class PointwiseConv(nn.Module):
    """A 1x1 convolution (stride s, no padding, no bias) as a matrix product over channels.

    Same parameter as nn.Conv (`kernel` (1, 1, in, out), same initialisation) and the same
    result: a strided 1x1 convolution reads every s-th pixel. XLA's CPU backend computes the
    kernel gradient of a matrix product (vit_jax.matmul) several times faster than that of a
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


# Stages with at least this many units after the first run those units as one lax.scan loop.
SCAN_MIN_REPEATS = 7


class Stage(nn.Module):
    """One ResNet stage (He et al., Table 1 conv2_x..conv5_x): unit1 (strided) to unitN.

    `unit` is the bottleneck class, called as unit(features=, strides=, **unit_fields)(x); with
    `remat` every unit is rematerialised. Parameter names are unit1..unitN whichever way the
    units run. In long stages (SCAN_MIN_REPEATS or more units after the first, e.g. ResNet-152's
    conv3_x and conv4_x) units 2..N run as one lax.scan over their stacked variables unless
    `unroll`: unrolled, XLA's CPU backend fuses the residual stream of such a stage into every
    unit's elementwise operations again, recomputing all earlier units' residual additions in
    each unit (measured: ResNet-152 at batch 16 on 2 CPU cores, inference 2.17 -> 1.64 s,
    training step 8.21 -> 7.65 s). XLA's cost analysis counts a loop body once; FLOP counts
    need `unroll=True`.
    """

    unit: type[nn.Module]
    unit_fields: Mapping[str, Any]
    num_units: int
    features: int
    first_stride: int
    remat: bool = False
    unroll: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        unit_cls = nn.remat(self.unit) if self.remat else self.unit
        fields = dict(features=self.features, **self.unit_fields)
        x = unit_cls(strides=self.first_stride, name="unit1", **fields)(x)
        names = [f"unit{i}" for i in range(2, self.num_units + 1)]
        if self.unroll or len(names) < SCAN_MIN_REPEATS or self.is_initializing():
            for name in names:
                x = unit_cls(strides=1, name=name, **fields)(x)
            return x
        return self._scan_units(x, names=names, unit=self.unit(strides=1, parent=None, **fields))

    def _scan_units(self, x: Array, *, names: list[str], unit: nn.Module) -> Array:
        """Units `names` (stride 1, same shapes) as one lax.scan; their batch statistics are
        written back under the same names when that collection is mutable."""
        collections = [c for c in ("params", "batch_stats") if self.has_variable(c, names[0])]
        stacked = {
            c: jax.tree.map(
                lambda *leaves: jnp.stack(leaves), *(self.get_variable(c, n) for n in names)
            )
            for c in collections
        }
        mutable = ["batch_stats"] if self.is_mutable_collection("batch_stats") else False

        def body(x: Array, variables: dict) -> tuple[Array, dict]:
            if not mutable:
                return unit.apply(variables, x), {}
            return unit.apply(variables, x, mutable=mutable)

        if self.remat:
            body = jax.checkpoint(body)
        x, updated = jax.lax.scan(body, x, stacked)
        for collection, values in updated.items():
            for i, name in enumerate(names):
                self.put_variable(collection, name, jax.tree.map(lambda v, i=i: v[i], values))
        return x


class Bottleneck(nn.Module):
    """Bottleneck unit: ReLU(BN(proj(x)) + BN(conv3(ReLU(BN(conv2(ReLU(BN(conv1(x))))))))."""

    features: int
    strides: int
    train: bool
    batch_norm_epsilon: float
    batch_norm_momentum: float
    axis_name: str | None
    dtype: Dtype

    def _batch_norm(self, name: str) -> BatchNorm:
        return BatchNorm(
            use_running_average=not self.train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name=name,
        )

    def _conv(self, features: int, kernel: int, strides: int, name: str) -> nn.Module:
        if kernel == 1:
            return PointwiseConv(features, strides, self.dtype, name=name)
        pad = (kernel - 1) // 2
        return nn.Conv(
            features,
            (kernel, kernel),
            (strides, strides),
            padding=((pad, pad), (pad, pad)),
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
            conv_general_dilated=conv_general_dilated,
            name=name,
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

    @nn.compact
    def __call__(self, inputs: Array, *, train: bool) -> Array:
        x = nn.Conv(
            64,
            (7, 7),
            (2, 2),
            padding=((3, 3), (3, 3)),
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
            conv_general_dilated=conv_general_dilated,
            name="conv_root",
        )(inputs.astype(self.dtype))
        x = BatchNorm(
            use_running_average=not train,
            momentum=self.batch_norm_momentum,
            epsilon=self.batch_norm_epsilon,
            axis_name=self.axis_name,
            dtype=self.dtype,
            name="bn_root",
        )(x)
        x = nn.max_pool(nn.relu(x), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        unit_fields = {
            "train": train,
            "batch_norm_epsilon": self.batch_norm_epsilon,
            "batch_norm_momentum": self.batch_norm_momentum,
            "axis_name": self.axis_name,
            "dtype": self.dtype,
        }
        for stage, num_units in enumerate(self.num_layers):
            x = Stage(
                unit=Bottleneck,
                unit_fields=unit_fields,
                num_units=num_units,
                features=64 * 2**stage,
                first_stride=1 if stage == 0 else 2,
                remat=self.remat,
                unroll=self.unroll,
                name=f"block{stage + 1}",
            )(x)
        x = jnp.mean(x, axis=(1, 2))
        return classification_head(x, num_classes=self.num_classes, dtype=self.dtype)
