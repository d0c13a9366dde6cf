"""Config checks: every value that cannot work is rejected before any data, checkpoint or
compute is touched, with a ConfigError naming the field and the value
(vit_jax/training/config_defaults.py describes the fields).
"""

import jax
import ml_collections

from vit_jax import models
from vit_jax.reporting.results import MODES
from vit_jax.training.optim import OPTIMIZERS, SCHEDULES
from vit_jax.training.sharding import SHARDINGS
from vit_jax.training.train_state import HEAD_INITS

INITS = ("checkpoint", "scratch")
HEADS = ("new", "imagenet1k", "keep")
DTYPES = ("float32", "bfloat16")


class ConfigError(ValueError):
    """A config value that cannot work; the message names the field."""


def recipe_of(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The optimizer recipe the config names (config.recipes[config.recipe]): the one lookup."""
    return config.recipes[config.recipe]


def set_model_overrides(config: ml_collections.ConfigDict) -> dict:
    """The config.model_overrides fields given a value (vit_jax/training/config_defaults.py
    declares every field a model has, unset); a config whose model_overrides declares only its own
    fields works too."""
    return {
        field: value
        for field, value in config.model_overrides.to_dict().items()
        if value is not None
    }


def _choice(config: ml_collections.ConfigDict, field: str, valid: tuple) -> None:
    value = config
    for part in field.split("."):
        value = value[part]
    if value not in valid:
        raise ConfigError(f"config.{field}={value!r} is not one of {valid}")


def check_config(config: ml_collections.ConfigDict) -> None:
    """Rejects values that cannot work (needs no data, checkpoint or compute)."""
    check_values(config)
    _check_device_split(config)


def check_values(config: ml_collections.ConfigDict) -> None:
    """The checks that need no device: main.py runs them before JAX starts its backends (and
    before jax.distributed is initialised), so a bad value costs no start-up time."""
    for field, valid in (
        ("mode", MODES),
        ("init", INITS),
        ("head", HEADS),
        ("dtype", DTYPES),
        ("recipe", tuple(config.recipes)),
        ("model", models.MODEL_NAMES),
    ):
        _choice(config, field, valid)
    for field, valid in (("sharding", SHARDINGS), ("mu_dtype", DTYPES)):
        if field in config:  # configs written before these fields take their defaults
            _choice(config, field, valid)
    recipe_field = f"recipes.{config.recipe}"
    for field, valid in (
        ("optimizer", OPTIMIZERS),
        ("schedule", SCHEDULES),
        ("head_init", HEAD_INITS),
    ):
        _choice(config, f"{recipe_field}.{field}", valid)
    recipe = recipe_of(config)
    _check_numbers(config, recipe_field=recipe_field)
    if recipe.batch_size % recipe.grad_accum_steps:
        raise ConfigError(
            f"config.{recipe_field}.batch_size={recipe.batch_size} is not divisible by "
            f"grad_accum_steps={recipe.grad_accum_steps}"
        )
    if config.mode == "finetune" and config.num_epochs < 1:
        raise ConfigError(f"config.num_epochs={config.num_epochs} must be >= 1 for fine-tuning")
    if config.head == "keep" and config.init != "checkpoint":
        raise ConfigError(
            "config.head='keep' keeps a checkpoint's head; it needs init='checkpoint'"
        )
    if config.mode in ("zeroshot", "fewshot") and config.init == "scratch":
        raise ConfigError(
            f"config.mode={config.mode!r} evaluates a pre-trained model; it needs init='checkpoint'"
        )
    if config.head == "imagenet1k" and (config.mode, config.init) != ("zeroshot", "checkpoint"):
        raise ConfigError(
            "config.head='imagenet1k' (the checkpoint's ImageNet-1k head pooled onto the dataset's "
            "classes) needs mode='zeroshot' and init='checkpoint'"
        )
    architecture = models.get_config(config.model)
    if "patches" in architecture:
        patches = set_model_overrides(config).get("patches", architecture.patches)
        if config.image_size[0] % patches[0] or config.image_size[1] % patches[1]:
            raise ConfigError(
                f"config.image_size={tuple(config.image_size)} is not divisible by the patch size "
                f"{tuple(patches)} of {config.model}"
            )
    for field in ("log_every_steps", "checkpoint_every_steps", "eval_every_steps"):
        if config[field] < 0:
            raise ConfigError(f"config.{field}={config[field]} must be >= 0 (0 turns it off)")
    if config.log_every_steps == 0:
        raise ConfigError("config.log_every_steps must be >= 1")


def _check_device_split(config: ml_collections.ConfigDict) -> None:
    """Every batch splits evenly over the devices (data parallelism)."""
    recipe = recipe_of(config)
    devices = jax.device_count()
    for field, size in (
        (
            f"recipes.{config.recipe}.batch_size / grad_accum_steps",
            recipe.batch_size // recipe.grad_accum_steps,
        ),
        ("eval_batch_size", config.eval_batch_size),
    ):
        if size % devices:
            raise ConfigError(
                f"config.{field}={size} is not divisible by the {devices} devices "
                f"({jax.process_count()} process(es)); data parallelism splits every batch evenly"
            )


def _check_numbers(config: ml_collections.ConfigDict, *, recipe_field: str) -> None:
    """Sizes, counts and rates that only make sense within bounds."""
    recipe = recipe_of(config)
    at_least = {
        f"{recipe_field}.batch_size": (recipe.batch_size, 1),
        f"{recipe_field}.grad_accum_steps": (recipe.grad_accum_steps, 1),
        f"{recipe_field}.warmup_steps": (recipe.warmup_steps, 0),
        "eval_batch_size": (config.eval_batch_size, 1),
        "keep_checkpoints": (config.keep_checkpoints, 1),
        "prefetch_batches": (config.prefetch_batches, 0),
        "num_epochs": (config.num_epochs, 0),
        "fewshot.seeds": (config.fewshot.seeds, 1),
    }
    if config.num_classes is not None:
        at_least["num_classes"] = (config.num_classes, 2)
    for field, (value, low) in at_least.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"config.{field}={value!r} must be an integer >= {low}")
    shots = tuple(config.fewshot.shots)
    if not shots or not all(
        isinstance(k, int) and not isinstance(k, bool) and k > 0 for k in shots
    ):
        raise ConfigError(f"config.fewshot.shots={shots!r} must be positive integers")
    if not config.fewshot.l2 > 0:
        raise ConfigError(f"config.fewshot.l2={config.fewshot.l2!r} must be positive")
    if not recipe.learning_rate > 0:
        raise ConfigError(
            f"config.{recipe_field}.learning_rate={recipe.learning_rate!r} must be positive"
        )
    size = tuple(config.image_size)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ConfigError(
            f"config.image_size={size!r} must be two positive integers (height, width)"
        )
    _check_optimizer_numbers(recipe, recipe_field=recipe_field)
    _check_model_numbers(config)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _check_optimizer_numbers(recipe: ml_collections.ConfigDict, *, recipe_field: str) -> None:
    """The optimizer's constants within the ranges where they mean what they say: a negative
    clipping norm would flip every gradient (gradient ascent), b1/b2 outside [0, 1) diverge."""
    ranges = {
        "grad_clip_norm": (0.0, None, "0 (off) or a positive norm"),
        "weight_decay": (0.0, None, "0 or positive"),
        "b1": (0.0, 1.0, "in [0, 1)"),
        "b2": (0.0, 1.0, "in [0, 1)"),
        "momentum": (0.0, 1.0, "in [0, 1)"),
    }
    for field, (low, high, meaning) in ranges.items():
        value = recipe.get(field)
        if value is None and field == "grad_clip_norm":
            continue
        if not _number(value) or value < low or (high is not None and value >= high):
            raise ConfigError(f"config.{recipe_field}.{field}={value!r} must be {meaning}")
    if not _number(recipe.eps) or not recipe.eps > 0:
        raise ConfigError(f"config.{recipe_field}.eps={recipe.eps!r} must be positive")


def _check_model_numbers(config: ml_collections.ConfigDict) -> None:
    """Overridden model sizes that can build a model: positive sizes, heads dividing the hidden
    size, dropout rates in [0, 1)."""
    overrides = set_model_overrides(config)
    architecture = {**models.get_config(config.model).to_dict(), **overrides}
    for field in ("hidden_size", "mlp_dim", "num_heads", "width_factor", "representation_size"):
        value = overrides.get(field)
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(
                f"config.model_overrides.{field}={value!r} must be a positive integer"
            )
    layers = overrides.get("num_layers")
    if layers is not None:
        depths = list(layers) if isinstance(layers, list | tuple) else [layers]
        if not depths or not all(isinstance(d, int) and d >= 1 for d in depths):
            raise ConfigError(
                f"config.model_overrides.num_layers={layers!r} must be positive integers"
            )
    patches = overrides.get("patches")
    if patches is not None and (
        len(patches) != 2 or not all(isinstance(p, int) and p >= 1 for p in patches)
    ):
        raise ConfigError(
            f"config.model_overrides.patches={patches!r} must be two positive integers"
        )
    if "num_heads" in architecture and architecture["hidden_size"] % architecture["num_heads"]:
        raise ConfigError(
            f"config.model_overrides: hidden_size {architecture['hidden_size']} is not divisible "
            f"by num_heads {architecture['num_heads']} (each head gets hidden_size / num_heads)"
        )
    for field in ("dropout_rate", "attention_dropout_rate"):
        value = overrides.get(field)
        if value is not None and (not _number(value) or not 0 <= value < 1):
            raise ConfigError(f"config.model_overrides.{field}={value!r} must be in [0, 1)")
