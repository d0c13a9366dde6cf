"""Which implementation runs, chosen in one place: a model's `kernels` field.

'cpu': the hand-written gradients of this subpackage (dense.py, attention.py, convolution.py,
batch_norm.py) and scanned long ResNet stages, tuned for XLA's CPU backend. 'xla': the libraries'
own kernels with automatic gradients (jax.nn.dot_product_attention, cuDNN's fused attention on a
GPU where the dtype and head size allow it; flax's Dense, Conv and BatchNorm; unrolled stages),
what a GPU or TPU wants. 'auto' (the default): 'cpu' on the CPU backend, 'xla' elsewhere. Both
give the same parameters, names and numerics (tests/test_kernel_paths.py).
"""

import jax
import jax.numpy as jnp

KERNELS = ("auto", "cpu", "xla")
CUDNN_DTYPES = (jnp.dtype(jnp.bfloat16), jnp.dtype(jnp.float16))
CUDNN_MAX_HEAD_DIM = 128
# cuDNN's fused (flash) attention runs on Ampere (compute capability 8.0) and later; JAX does not
# check this before handing the call to cuDNN (jax._src.cudnn.fused_attention_stablehlo).
CUDNN_MIN_COMPUTE_CAPABILITY = (8, 0)


def check(kernels: str) -> None:
    if kernels not in KERNELS:
        raise ValueError(f"kernels={kernels!r} is not one of {KERNELS}")


def resolve(kernels: str) -> str:
    """'cpu' or 'xla' for a model's `kernels` field, from the default backend for 'auto'."""
    check(kernels)
    if kernels == "auto":
        return "cpu" if jax.default_backend() == "cpu" else "xla"
    return kernels


def cudnn_gpu() -> bool:
    """Whether JAX computes on an NVIDIA GPU of compute capability 8.0 or later (not ROCm, not an
    older GPU such as a T4 or V100, where cuDNN has no fused attention)."""
    if jax.default_backend() != "gpu":
        return False
    device = jax.devices()[0]
    if "cuda" not in device.client.platform_version.lower():
        return False
    capability = tuple(int(part) for part in device.compute_capability.split("."))
    return capability >= CUDNN_MIN_COMPUTE_CAPABILITY


def attention_implementation(*, dtype, head_dim: int) -> str | None:
    """'cudnn' on an NVIDIA GPU of compute capability 8.0+ for bfloat16/float16 with head_dim a
    multiple of 8 up to 128 (what its fused attention supports); None (XLA's formulation)
    otherwise."""
    fits = jnp.dtype(dtype) in CUDNN_DTYPES and head_dim % 8 == 0 and head_dim <= CUDNN_MAX_HEAD_DIM
    return "cudnn" if fits and cudnn_gpu() else None
