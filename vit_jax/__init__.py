"""vit_jax: the Vision Transformer (Dosovitskiy et al., ICLR 2021) in JAX/Flax, with ResNet
baselines, checkpoint conversion, fine-tuning experiments, reports and benchmarks.

Subpackages, one concern each (docs/ARCHITECTURE.md draws the whole picture); an arrow is
"may import":

  common       (nothing of vit_jax)            atomic files, strict JSON, workdir lock, failures
  kernels      (nothing of vit_jax)            CPU-tuned gradients, process settings
  models       -> kernels                      ViT, ResNet, BiT; the registry (`create_model`)
  data         -> common                       dataset builders, splits, preprocessing, loaders
  checkpoints  -> common, models               converted checkpoints, format readers, run state
  reporting    -> common, data                 metrics, footwear pooling, metric writer, reports
  training     -> common, models, kernels, data, checkpoints, reporting
                                               config checks, steps, the loop, the study
  inference    -> common, models, data, checkpoints, reporting
                                               the Classifier, image files, evaluation
  analysis     -> common, models, data, checkpoints, inference
                                               few-shot linear evaluation (paper section 4.1)
  bench        -> common, models, kernels, data, checkpoints, training
                                               timing harness and the benchmarks

The modules at this level are the command-line entry points (`python -m vit_jax.<command>`):
thin argument parsers that call into the subpackages. tests/test_layout.py checks the arrows.
"""

__all__ = ["Classifier"]


def __getattr__(name: str):
    """`vit_jax.Classifier` (vit_jax.inference.classifier), imported on first use so that the
    commands' --help and `import vit_jax` stay free of JAX."""
    if name == "Classifier":
        from vit_jax.inference.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'vit_jax' has no attribute {name!r}")
