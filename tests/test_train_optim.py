"""The optimizer recipes: 'study' is the Hugging Face Trainer's AdamW with linear decay and
clipping (checked against torch), 'paper' one clipped SGD step with warmup and cosine decay per
update (of 32 accumulated micro-batches, tests/test_train_accumulation.py); every config file
loads, passes the checks and shows its command."""

import importlib
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from vit_jax.training import command_line, config_defaults, experiment, optim

CONFIGS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs").glob("*.py"))


def test_study_recipe_matches_torch_adamw_with_linear_decay_and_clipping():
    recipe = config_defaults.study_recipe()
    recipe.learning_rate = 0.1  # large enough for differences to show
    updates = 5
    rng = np.random.default_rng(0)
    scales = np.array([1, 1, 1, 0.01, 0.01, 3], np.float32)
    grads = rng.normal(size=(updates, 6)).astype(np.float32) * scales
    start = rng.normal(size=6).astype(np.float32)

    tx, _ = optim.create_optimizer(recipe=recipe, total_updates=updates)
    params = jnp.asarray(start)
    state = tx.init(params)
    for grad in grads:
        update, state = tx.update(jnp.asarray(grad), state, params)
        params = optax.apply_updates(params, update)

    weight = torch.nn.Parameter(torch.from_numpy(start.copy()))
    adamw = torch.optim.AdamW([weight], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    linear = torch.optim.lr_scheduler.LambdaLR(adamw, lambda step: (updates - step) / updates)
    for grad in grads:
        weight.grad = torch.from_numpy(grad.copy())
        torch.nn.utils.clip_grad_norm_([weight], max_norm=1.0)
        adamw.step()
        linear.step()
    np.testing.assert_allclose(np.asarray(params), weight.detach().numpy(), atol=1e-5)
    assert np.abs(np.asarray(params) - start).max() > 0.1


def test_paper_recipe_is_clipped_sgd_with_momentum_warmup_and_cosine_decay():
    recipe = config_defaults.paper_recipe()
    assert (recipe.batch_size, recipe.grad_accum_steps) == (512, 32)
    total = 20
    tx, schedule = optim.create_optimizer(recipe=recipe, total_updates=total)
    update_fn = jax.jit(tx.update)
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(3, 4)).astype(np.float32)  # one averaged gradient per update
    params = jnp.zeros(4)
    state = tx.init(params)
    for grad in grads:
        step, state = update_fn(jnp.asarray(grad), state, params)
        params = optax.apply_updates(params, step)
    clipped = [g / max(1.0, np.linalg.norm(g)) for g in grads]
    lr = [float(schedule(i)) for i in range(3)]
    assert lr[0] == 0 and lr[1] == pytest.approx(0.01 / 5) and lr[2] == pytest.approx(0.02 / 5)
    trace, expected = np.zeros(4), np.zeros(4)
    for i in range(3):
        trace = clipped[i] + 0.9 * trace
        expected = expected - lr[i] * trace
    np.testing.assert_allclose(np.asarray(params), expected, atol=1e-7)
    peak_after_warmup = float(schedule(recipe.warmup_steps))
    assert peak_after_warmup == pytest.approx(0.01) and float(schedule(total)) == pytest.approx(0)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_loads_passes_the_checks_and_shows_its_command(name):
    module = importlib.import_module(f"configs.{name}")
    config = module.get_config()
    command = rf"python main.py --config configs/{name}\.py(:\w+)? --workdir runs/"
    assert re.search(command, module.__doc__)
    assert "Expected:" in module.__doc__
    cells = config.cells.values() if "cells" in config else [config]
    for cell in cells:
        experiment.check_config(cell)
        paper = cell.copy_and_resolve_references()
        paper.recipe = "paper"
        experiment.check_config(paper)
    if "cells" in config:
        assert sorted(config.cells) == sorted(
            f"{model}_{mode}"
            for model in config_defaults.MODELS
            for mode in ("zeroshot", "fewshot", "finetune")
        )


@pytest.mark.parametrize("mode", ["finetune", "zeroshot"])
@pytest.mark.parametrize("model", ["vit", "resnet50", "resnet152"])
def test_the_named_configs_are_the_shared_definition_with_its_argument(mode, model):
    shared = importlib.import_module(f"configs.{mode}")
    named = importlib.import_module(f"configs.{mode}_{model}")
    assert named.get_config().to_dict() == shared.get_config(model).to_dict()
    assert command_line.config_name(["main.py", f"--config=configs/{mode}.py:{model}"]) == (
        f"{mode}_{model}"
    )
    with pytest.raises(ValueError, match="'vit16' is not one of vit, resnet50, resnet152"):
        shared.get_config("vit16")


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("recipes.study.grad_clip_norm", -1.0, "grad_clip_norm=-1.0 must be 0 (off) or a positive"),
        ("recipes.study.b1", 1.0, "b1=1.0 must be in [0, 1)"),
        ("recipes.study.b2", -0.1, "b2=-0.1 must be in [0, 1)"),
        ("recipes.study.eps", 0.0, "eps=0.0 must be positive"),
        ("recipes.study.weight_decay", -1e-4, "weight_decay=-0.0001 must be 0 or positive"),
        ("recipes.study.momentum", 1.5, "momentum=1.5 must be in [0, 1)"),
        ("model_overrides.num_heads", 5, "hidden_size 768 is not divisible by num_heads 5"),
        ("model_overrides.hidden_size", -8, "hidden_size=-8 must be a positive integer"),
        ("model_overrides.num_layers", 0, "num_layers=0 must be positive integers"),
        ("model_overrides.patches", (0, 16), "patches=(0, 16) must be two positive integers"),
        ("model_overrides.dropout_rate", 1.0, "dropout_rate=1.0 must be in [0, 1)"),
    ],
)
def test_optimizer_and_model_numbers_outside_their_meaning_are_refused(field, value, message):
    """A value of the right type but without meaning stops before any compute, naming the field
    (a negative clipping norm trained by gradient ascent)."""
    config = config_defaults.get_config(model="vit", mode="finetune")
    parent, _, leaf = field.rpartition(".")
    target = config
    for part in parent.split("."):
        target = target[part]
    target[leaf] = value
    with pytest.raises(experiment.ConfigError, match=re.escape(message)):
        experiment.check_config(config)
