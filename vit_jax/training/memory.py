"""Device memory of a config's training, read before it runs: the bytes per device of the
parameters and the optimizer state (from their shapes and layout, vit_jax.training.sharding),
and of the compiled train step's arguments, temporaries and outputs (XLA's memory analysis of the
program as `main.py` would compile it for this machine's devices). Nothing is trained, no data
or checkpoint is read: the model is built from the config (its head for config.num_classes, or
1000 classes when the dataset decides; the head is a small part of any model here).
"""

import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding

from vit_jax import models
from vit_jax.data.preprocessing import parse_preprocessing
from vit_jax.training import optim, parallel, sharding
from vit_jax.training.config_checks import recipe_of, set_model_overrides
from vit_jax.training.experiment import training_fields
from vit_jax.training.steps import data_parallel_train_step
from vit_jax.training.train_state import create_train_state

MIB = 2**20


def held_bytes(tree: Any, specs: Any) -> int:
    """Bytes one device holds of `tree` (arrays or ShapeDtypeStructs) laid out as `specs`."""
    total = 0
    for x, spec in zip(jax.tree.leaves(tree), jax.tree.leaves(specs), strict=True):
        size = math.prod(x.shape) * np.dtype(x.dtype).itemsize
        split = parallel.gather_axis(spec) is not None
        total += size // jax.device_count() if split else size
    return total


def report(config: ml_collections.ConfigDict) -> str:
    """The memory figures of `config`'s train step on this machine's devices, as text."""
    layout = config.get("sharding", "replicate")
    recipe = recipe_of(config)
    fsdp = layout == "fsdp"
    model = models.create_model(
        config.model,
        num_classes=config.num_classes or 1000,
        **set_model_overrides(config),
        **training_fields(name=config.model, dtype=config.dtype),
    )
    updates = recipe.warmup_steps + 1  # any count: the schedule takes no memory
    optimizer, _ = optim.create_optimizer(
        recipe=recipe,
        total_updates=updates,
        clip=not fsdp,
        mu_dtype=config.get("mu_dtype", "float32"),
    )
    image = (1, *config.image_size, 3)
    state = jax.eval_shape(
        lambda: create_train_state(
            variables=model.init(jax.random.key(0), jnp.zeros(image), train=False),
            optimizer=optimizer,
        )
    )
    mesh = parallel.create_mesh()
    specs = sharding.state_specs(state, sharding=layout, devices=mesh.size)
    abstract = jax.tree.map(
        lambda x, spec: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=NamedSharding(mesh, spec)),
        state,
        specs,
    )
    accum = recipe.grad_accum_steps
    shape = (accum, recipe.batch_size // accum) if accum > 1 else (recipe.batch_size,)
    batch_sharding = NamedSharding(mesh, parallel.batch_spec(accum_steps=accum))
    batch = {
        "image": jax.ShapeDtypeStruct((*shape, *config.image_size, 3), jnp.uint8),
        "label": jax.ShapeDtypeStruct(shape, jnp.int32),
        "mask": jax.ShapeDtypeStruct(shape, jnp.float32),
    }
    batch = {
        k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding) for k, v in batch.items()
    }
    step = data_parallel_train_step(
        mesh=mesh,
        model=model,
        optimizer=optimizer,
        seed=0,
        accum_steps=accum,
        normalisation=parse_preprocessing(preprocessing={"value_range": [-1, 1]}),
        state_specs=specs if fsdp else None,
        clip_norm=recipe.grad_clip_norm if fsdp else None,
    )
    analysis = step.lower(abstract, batch).compile().memory_analysis()
    label = models.label(config.model, overrides=set_model_overrides(config))
    return "\n".join(
        [
            f"memory per device: {label} at {config.image_size[0]}x{config.image_size[1]}, "
            f"batch {recipe.batch_size} ({accum} micro-batch(es)), dtype {config.dtype}, first "
            f"moment {config.get('mu_dtype', 'float32')}, "
            f"sharding {layout} over {mesh.size} {jax.devices()[0].platform} device(s)",
            f"  parameters       {held_bytes(state.params, specs.params) / MIB:10.1f} MiB",
            f"  optimizer state  {held_bytes(state.opt_state, specs.opt_state) / MIB:10.1f} MiB",
            f"  step arguments   {analysis.argument_size_in_bytes / MIB:10.1f} MiB "
            "(state and batch)",
            f"  step temporaries {analysis.temp_size_in_bytes / MIB:10.1f} MiB "
            "(activations, gradients, gathered parameters)",
            f"  step outputs     {analysis.output_size_in_bytes / MIB:10.1f} MiB "
            f"({analysis.alias_size_in_bytes / MIB:.1f} MiB of them reuse the donated state)",
        ]
    )
