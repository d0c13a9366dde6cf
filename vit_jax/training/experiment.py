"""An experiment config checked and turned into its parts (model, initial variables, dataset info),
before any training or evaluation compute.

Config fields are described in configs/common.py. Everything that cannot work is rejected here with
a ConfigError naming the field and value; a dataset or checkpoint that is missing raises
FileNotFoundError with the command that prepares it (from vit_jax.data.input_pipeline / checkpoint).
"""

import dataclasses
import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import traverse_util

from vit_jax import checkpoints, models
from vit_jax.data import input_pipeline
from vit_jax.reporting import footwear
from vit_jax.training.config_checks import ConfigError, check_config
from vit_jax.training.parallel import DATA_AXIS
from vit_jax.training.train_state import init_head


@dataclasses.dataclass(frozen=True)
class Experiment:
    """What training and evaluation need, built from a config."""

    model_name: str
    model: nn.Module
    variables: dict
    info: input_pipeline.DatasetInfo
    preprocessing: dict
    recipe: ml_collections.ConfigDict
    logits_fn: Callable[[jax.Array], jax.Array] | None

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer updates per epoch (the loader drops the last partial batch)."""
        return self.info.split_sizes["train"] // self.recipe.batch_size


def _check_dataset(config: ml_collections.ConfigDict) -> input_pipeline.DatasetInfo:
    info = input_pipeline.get_info(dataset=config.dataset, data_dir=config.data_dir)
    if config.num_classes is not None and config.num_classes != info.num_classes:
        raise ConfigError(
            f"config.num_classes={config.num_classes} but dataset {config.dataset!r} has "
            f"{info.num_classes} classes {list(info.class_names)}"
        )
    if info.num_classes < 2:
        raise ConfigError(
            f"dataset {config.dataset!r} has {info.num_classes} class {list(info.class_names)}; "
            "a classifier needs at least two"
        )
    recipe = config.recipes[config.recipe]
    if config.mode == "finetune" and info.split_sizes["train"] < recipe.batch_size:
        raise ConfigError(
            f"config.recipes.{config.recipe}.batch_size={recipe.batch_size} exceeds the "
            f"{info.split_sizes['train']} training examples of {config.dataset!r}"
        )
    total_updates = info.split_sizes["train"] // recipe.batch_size * config.num_epochs
    if config.mode == "finetune" and recipe.warmup_steps >= total_updates:
        raise ConfigError(
            f"config.recipes.{config.recipe}.warmup_steps={recipe.warmup_steps} is not below the "
            f"{total_updates} optimizer updates of this run"
        )
    return info


def _load_checkpoint(
    config: ml_collections.ConfigDict, info: input_pipeline.DatasetInfo
) -> checkpoints.LoadedCheckpoint:
    keep_head = config.head == "imagenet1k"
    loaded = checkpoints.load(
        directory=config.checkpoint_dir,
        num_classes=None if keep_head else info.num_classes,
        image_size=tuple(config.image_size),
    )
    meta = loaded.metadata
    if meta["model"] != config.model:
        raise ConfigError(
            f"config.checkpoint_dir={config.checkpoint_dir!r} holds a {meta['model']} but "
            f"config.model={config.model!r}"
        )
    if keep_head and (
        meta["num_classes"] != footwear.NUM_IMAGENET1K_CLASSES or not meta["head_kept"]
    ):
        raise ConfigError(
            "config.head='imagenet1k' needs a checkpoint with its "
            f"{footwear.NUM_IMAGENET1K_CLASSES}-class ImageNet-1k head kept; "
            f"{config.checkpoint_dir} has num_classes="
            f"{meta['num_classes']}, head_kept={meta['head_kept']}"
        )
    return loaded


def _check_variables(
    *, variables: dict, model: nn.Module, config: ml_collections.ConfigDict
) -> None:
    """The checkpoint's variable shapes must be the model's (abstract init, no compute)."""
    overrides = config.model_overrides.to_dict()
    image = jax.ShapeDtypeStruct((1, *config.image_size, 3), jnp.float32)
    expected = jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), image)
    expected = traverse_util.flatten_dict(expected, sep="/")
    found = traverse_util.flatten_dict(variables, sep="/")
    problems = [f"{path}: missing" for path in expected if path not in found]
    problems += [f"{path}: not in the model" for path in found if path not in expected]
    problems += [
        f"{path}: shape {tuple(found[path].shape)}, model expects {tuple(spec.shape)}"
        for path, spec in expected.items()
        if path in found and tuple(found[path].shape) != tuple(spec.shape)
    ]
    if problems:
        raise ConfigError(
            f"config.checkpoint_dir={config.checkpoint_dir!r} does not fit {config.model} with "
            f"{model.num_classes} classes and config.model_overrides={overrides}: "
            f"{len(problems)} mismatches, e.g. " + "; ".join(problems[:5])
        )


def _create_model(*, name: str, num_classes: int, overrides: dict, dtype: str) -> nn.Module:
    if "axis_name" in models.get_config(name):
        overrides = {**overrides, "axis_name": DATA_AXIS}
    return models.create_model(name, num_classes=num_classes, **overrides, dtype=dtype)


def build(config: ml_collections.ConfigDict) -> Experiment:
    """Checks `config`, the dataset and the checkpoint, and builds the model and its variables."""
    check_config(config)
    info = _check_dataset(config)
    recipe = config.recipes[config.recipe]
    overrides = config.model_overrides.to_dict()
    if config.init == "scratch":
        model = _create_model(
            name=config.model, num_classes=info.num_classes, overrides=overrides, dtype=config.dtype
        )
        image = jnp.zeros((1, *config.image_size, 3), jnp.float32)
        init = jax.jit(functools.partial(model.init, train=False))
        variables = jax.device_get(init(jax.random.key(config.seed), image))
        preprocessing = config.preprocessing.to_dict()
        logits_fn = None
    else:
        loaded = _load_checkpoint(config, info)
        meta = loaded.metadata
        model = _create_model(
            name=meta["model"],
            num_classes=meta["num_classes"],
            overrides={**meta["model_overrides"], **overrides},
            dtype=config.dtype,
        )
        _check_variables(variables=loaded.variables, model=model, config=config)
        variables = loaded.variables
        if config.head == "new":
            params = init_head(
                params=variables["params"],
                model_name=config.model,
                head_init=recipe.head_init,
                seed=config.seed,
            )
            variables = {**variables, "params": params}
            logits_fn = None
        else:
            class_names = tuple(info.class_names)

            def logits_fn(logits: jax.Array) -> jax.Array:
                return footwear.imagenet1k_footwear_logits(
                    logits_1000=logits, class_names=class_names
                )

            # Raises now, not inside the first compiled step, for classes without a footwear group.
            logits_fn(jnp.zeros((1, footwear.NUM_IMAGENET1K_CLASSES)))
        preprocessing = meta["preprocessing"]
    return Experiment(
        model_name=config.model,
        model=model,
        variables=variables,
        info=info,
        preprocessing=preprocessing,
        recipe=recipe,
        logits_fn=logits_fn,
    )
