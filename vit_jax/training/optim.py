"""Optimizer and learning-rate schedule of a training recipe, all from optax.

Two recipes are defined in vit_jax/training/config_defaults.py:
- 'study': AdamW (Hugging Face Trainer defaults: betas 0.9/0.999, eps 1e-8, no weight decay) with a
  linear decay to zero, batch 16.
- 'paper': the fine-tuning recipe of Dosovitskiy et al. (ICLR 2021), Appendix B.1.1: SGD with
  momentum 0.9, gradient clipping at global norm 1, cosine decay after a linear warmup, batch 512
  reached by gradient accumulation.
Step counts here are optimizer updates; with accumulation one update spans `grad_accum_steps`
micro-batches, whose gradients the train step accumulates (vit_jax.training.steps).
"""

from typing import TYPE_CHECKING

import optax

if TYPE_CHECKING:  # the benchmark imports this module where ml_collections is not installed
    import ml_collections

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("linear", "cosine")


def create_schedule(*, recipe: "ml_collections.ConfigDict", total_updates: int) -> optax.Schedule:
    """Linear warmup from 0 over `recipe.warmup_steps` updates, then linear or cosine decay to 0."""
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"recipe.schedule {recipe.schedule!r} is not one of {SCHEDULES}")
    warmup = recipe.warmup_steps
    if recipe.schedule == "cosine":
        return optax.warmup_cosine_decay_schedule(
            init_value=0.0,
            peak_value=recipe.learning_rate,
            warmup_steps=warmup,
            decay_steps=total_updates,
            end_value=0.0,
        )
    decay = optax.linear_schedule(recipe.learning_rate, 0.0, total_updates - warmup)
    if warmup == 0:
        return decay
    return optax.join_schedules(
        [optax.linear_schedule(0.0, recipe.learning_rate, warmup), decay], boundaries=[warmup]
    )


def create_optimizer(
    *,
    recipe: "ml_collections.ConfigDict",
    total_updates: int,
    clip: bool = True,
    mu_dtype: str = "float32",
) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """(optimizer over the update's gradients, learning-rate schedule over updates) of `recipe`.
    `clip` False leaves out the gradient clipping, for a train step that clips itself (a sharded
    state's step, which alone sees the whole gradient's norm). `mu_dtype` is the dtype of the
    first moment (AdamW's mu, SGD's momentum): 'bfloat16' halves it, as big_vision keeps it; Adam's
    second moment and the parameters stay float32 (bfloat16 there slows and hurts training)."""
    if recipe.optimizer not in OPTIMIZERS:
        raise ValueError(f"recipe.optimizer {recipe.optimizer!r} is not one of {OPTIMIZERS}")
    schedule = create_schedule(recipe=recipe, total_updates=total_updates)
    if recipe.optimizer == "adamw":
        optimizer = optax.adamw(
            schedule,
            b1=recipe.b1,
            b2=recipe.b2,
            eps=recipe.eps,
            weight_decay=recipe.weight_decay,
            mu_dtype=mu_dtype,
        )
    else:
        optimizer = optax.sgd(schedule, momentum=recipe.momentum, accumulator_dtype=mu_dtype)
    if recipe.grad_clip_norm and clip:
        optimizer = optax.chain(optax.clip_by_global_norm(recipe.grad_clip_norm), optimizer)
    return optimizer, schedule
