"""An experiment config checked and turned into its parts (model, initial variables, dataset info),
before any training or evaluation compute.

Config fields are described in vit_jax/training/config_defaults.py. Everything that cannot work is
rejected here with a ConfigError naming the field and value; a dataset or checkpoint that is missing
raises FileNotFoundError with the command that prepares it (from vit_jax.data.input_pipeline /
checkpoint).
"""

import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from flax import traverse_util

from vit_jax import checkpoints, models
from vit_jax.checkpoints import named
from vit_jax.data import input_pipeline
from vit_jax.training import footwear
from vit_jax.training.config_checks import (
    ConfigError,
    check_config,
    recipe_of,
    set_model_overrides,
)
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

    overrides: dict = dataclasses.field(default_factory=dict)
    checkpoint_dir: Path | None = None  # the converted checkpoint loaded (init='checkpoint')

    def description(self, *, image_size: tuple[int, int]) -> dict:
        """How to rebuild and feed the model: what an exported checkpoint's metadata needs."""
        return {
            "name": self.model_name,
            "num_classes": self.info.num_classes,
            "model_overrides": self.overrides,
            "class_names": list(self.info.class_names),
            "image_size": list(image_size),
            "preprocessing": self.preprocessing,
        }

    @property
    def label(self) -> str:
        """The model as it is: the published name, or its family and sizes where overridden."""
        return models.label(self.model_name, overrides=self.overrides)

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
    recipe = recipe_of(config)
    if config.mode == "finetune" and info.split_sizes["train"] < recipe.batch_size:
        raise ConfigError(
            f"config.recipes.{config.recipe}.batch_size={recipe.batch_size} exceeds the "
            f"{info.split_sizes['train']} training examples of {config.dataset!r}"
        )
    return info


def _fitted_recipe(config: ml_collections.ConfigDict, info) -> ml_collections.ConfigDict:
    """The config's recipe, with a warm-up longer than the run shortened to half the run (and a
    warning): a short run, e.g. the quick start with num_epochs=1, still trains."""
    recipe = recipe_of(config)
    total_updates = info.split_sizes["train"] // recipe.batch_size * config.num_epochs
    if config.mode != "finetune" or recipe.warmup_steps < total_updates:
        return recipe
    fitted = ml_collections.ConfigDict(recipe.to_dict())
    fitted.warmup_steps = total_updates // 2
    print(
        f"warning: config.recipes.{config.recipe}.warmup_steps={recipe.warmup_steps} is not below "
        f"the {total_updates} optimizer updates of this run; warming up for "
        f"{fitted.warmup_steps} instead",
        file=sys.stderr,
    )
    return fitted


def missing_prerequisites(config: ml_collections.ConfigDict, *, resolve: bool = False) -> list[str]:
    """What is missing for `config` (dataset, checkpoint), each with the command that makes it.
    A checkpoint name or address counts as present (it is fetched on first use) unless `resolve`,
    which fetches and converts it now, so that every failure shows before any run starts."""
    missing = []
    try:
        input_pipeline.get_info(dataset=config.dataset, data_dir=config.data_dir)
    except FileNotFoundError as error:
        missing.append(str(error))
    spec = config.checkpoint_dir
    if config.init != "checkpoint":
        return missing
    if resolve:
        try:
            named.local_checkpoint(spec=spec, model=config.model)
        except (OSError, ValueError) as error:
            missing.append(f"checkpoint {spec}: {error}")
    elif not named.is_named(spec) and not Path(spec).exists():
        try:
            checkpoints.check_present(directory=spec, model=config.model)
        except FileNotFoundError as error:
            missing.append(str(error))
    return missing


def _missing_prerequisites(config: ml_collections.ConfigDict) -> None:
    """One FileNotFoundError naming every missing input."""
    if missing := missing_prerequisites(config):
        raise FileNotFoundError("\n".join(missing))


def _load_checkpoint(
    config: ml_collections.ConfigDict, info: input_pipeline.DatasetInfo, directory: Path
) -> checkpoints.LoadedCheckpoint:
    keep_head = config.head in ("imagenet1k", "keep")
    loaded = checkpoints.load(
        directory=directory,
        num_classes=None if keep_head else info.num_classes,
        image_size=tuple(config.image_size),
    )
    meta = loaded.metadata
    if meta["model"] != config.model:
        raise ConfigError(
            f"config.checkpoint_dir={config.checkpoint_dir!r} holds a {meta['model']} but "
            f"config.model={config.model!r}"
        )
    if config.head == "imagenet1k" and (
        meta["num_classes"] != footwear.NUM_IMAGENET1K_CLASSES or not meta["head_kept"]
    ):
        raise ConfigError(
            "config.head='imagenet1k' needs a checkpoint with its "
            f"{footwear.NUM_IMAGENET1K_CLASSES}-class ImageNet-1k head kept; "
            f"{config.checkpoint_dir} has num_classes="
            f"{meta['num_classes']}, head_kept={meta['head_kept']}"
        )
    if config.head == "keep":
        _check_kept_head(config=config, meta=meta, info=info)
    return loaded


def _check_kept_head(
    *, config: ml_collections.ConfigDict, meta: dict, info: input_pipeline.DatasetInfo
) -> None:
    """A kept head must be one for the dataset's classes, in the same order (ignoring case)."""
    names = meta.get("label_names")
    fits = meta["num_classes"] == info.num_classes and (
        names is None or [n.lower() for n in names] == [n.lower() for n in info.class_names]
    )
    if not fits:
        raise ConfigError(
            f"config.head='keep' needs a head for the classes of {config.dataset!r} "
            f"({list(info.class_names)}); {config.checkpoint_dir} has {meta['num_classes']} "
            f"classes {names or ''}; use head='new' to train a new one"
        )


def _check_variables(
    *, variables: dict, model: nn.Module, config: ml_collections.ConfigDict
) -> None:
    """The checkpoint's variable shapes must be the model's (abstract init, no compute)."""
    overrides = set_model_overrides(config)
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


def training_fields(*, name: str, dtype: str) -> dict:
    """How training runs model `name`: its compute dtype, BatchNorm statistics over DATA_AXIS."""
    fields = {"dtype": dtype}
    if "axis_name" in models.get_config(name):
        fields["axis_name"] = DATA_AXIS
    return fields


def train_loader(*, config: ml_collections.ConfigDict, exp: Experiment):
    """The training split's grain loader as the loop reads it: the recipe's batch, shuffled by
    the config's seed for config.num_epochs epochs, uint8 pixels (normalised on the device)."""
    return input_pipeline.create_loader(
        dataset=config.dataset,
        data_dir=config.data_dir,
        split="train",
        batch_size=exp.recipe.batch_size,
        image_size=tuple(config.image_size),
        preprocessing=exp.preprocessing,
        train=True,
        seed=config.seed,
        num_epochs=config.num_epochs,
        augment=config.augment,
        worker_count=config.worker_count,
        pixels=True,
    )


def build(config: ml_collections.ConfigDict) -> Experiment:
    """Checks `config`, the dataset and the checkpoint, and builds the model and its variables."""
    check_config(config)
    _missing_prerequisites(config)
    info = _check_dataset(config)
    recipe = _fitted_recipe(config, info)
    overrides = set_model_overrides(config)
    if config.init == "scratch":
        model = models.create_model(
            config.model,
            num_classes=info.num_classes,
            **overrides,
            **training_fields(name=config.model, dtype=config.dtype),
        )
        image = jnp.zeros((1, *config.image_size, 3), jnp.float32)
        init = jax.jit(functools.partial(model.init, train=False))
        variables = jax.device_get(init(jax.random.key(config.seed), image))
        preprocessing = config.preprocessing.to_dict()
        logits_fn = None
    else:
        checkpoint_dir = named.local_checkpoint(spec=config.checkpoint_dir, model=config.model)
        loaded = _load_checkpoint(config, info, checkpoint_dir)
        meta = loaded.metadata
        model = checkpoints.create_model(
            metadata=meta, **overrides, **training_fields(name=meta["model"], dtype=config.dtype)
        )
        overrides = {**meta["model_overrides"], **overrides}
        _check_variables(variables=loaded.variables, model=model, config=config)
        variables = loaded.variables
        logits_fn = None
        if config.head == "new":
            params = init_head(
                params=variables["params"],
                model_name=config.model,
                head_init=recipe.head_init,
                seed=config.seed,
            )
            variables = {**variables, "params": params}
        elif config.head == "imagenet1k":
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
        overrides=overrides,
        checkpoint_dir=None if config.init == "scratch" else checkpoint_dir,
    )
