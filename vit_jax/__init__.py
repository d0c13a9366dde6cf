"""vit_jax: the Vision Transformer (Dosovitskiy et al., ICLR 2021) in JAX/Flax, with ResNet
baselines, checkpoint conversion, fine-tuning experiments, reports and benchmarks.

Ten subpackages, one concern each: common, kernels, models, data, checkpoints, reporting,
inference, analysis, training, bench. Which may import which is one table, in docs/ARCHITECTURE.md
(tests/test_layout.py holds it and checks the code, that document and every subpackage's
docstring against it). The modules at this level are the command-line entry points
(`python -m vit_jax.<command>`): thin argument parsers that call into the subpackages.
"""

__all__ = ["Classifier"]


def __getattr__(name: str):
    """`vit_jax.Classifier` (vit_jax.inference.classifier), imported on first use so that the
    commands' --help and `import vit_jax` stay free of JAX."""
    if name == "Classifier":
        from vit_jax.inference.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'vit_jax' has no attribute {name!r}")
