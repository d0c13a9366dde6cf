"""Speed on XLA's CPU backend with unchanged numerics: dense layers and attention with
hand-written gradients (dense.py, attention.py), convolutions whose kernel gradient is one
patch-matrix product (convolution.py), BatchNorm with a fused gradient (batch_norm.py), and the
process settings (XLA flags, C allocator) applied before JAX starts (runtime.py).

May import: nothing of vit_jax (jax and flax only). Imported by: models (the layers), training
and bench (runtime settings), main.py.
"""
