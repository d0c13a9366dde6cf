"""The layers' implementations, chosen once per model from its `kernels` field
(implementations.py; selection.py resolves 'auto': 'cpu' on the CPU backend, 'xla' elsewhere).
'cpu', speed on XLA's CPU backend with unchanged numerics: dense layers and attention with
hand-written gradients (dense.py, attention.py), convolutions whose kernel gradient is one
patch-matrix product and 1x1 convolutions as matrix products (convolution.py), BatchNorm with a
fused gradient (batch_norm.py), max pooling with a single-pass gradient (pooling.py); 'xla', the
libraries' own (jax.nn.dot_product_attention, cuDNN on a GPU; flax's Conv and BatchNorm).

May import: nothing of vit_jax (jax and flax only).
Imported by: models.
"""
