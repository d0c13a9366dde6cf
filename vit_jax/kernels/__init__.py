"""The layers' implementations and the process settings. 'cpu' kernels, speed on XLA's CPU
backend with unchanged numerics: dense layers and attention with hand-written gradients
(dense.py, attention.py), convolutions whose kernel gradient is one patch-matrix product
(convolution.py), BatchNorm with a fused gradient (batch_norm.py), max pooling with a
single-pass gradient (pooling.py); 'xla' kernels, the libraries'
own (attention.library_attention: jax.nn.dot_product_attention, cuDNN on a GPU). selection.py
chooses between them (a model's `kernels` field: 'auto' is 'cpu' on the CPU backend, 'xla'
elsewhere); runtime.py holds the process settings (XLA flags, C allocator on CPU) applied before
JAX starts.

May import: nothing of vit_jax (jax and flax only). Imported by: models (the layers), training
and bench (runtime settings), the commands and main.py.
"""
