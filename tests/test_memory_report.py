"""main.py --print_memory: the bytes per device of the parameters and the optimizer state (exact,
from the shapes), and the compiled train step's memory, without training; with
config.sharding='fsdp' on 8 devices each holds an eighth of the split arrays."""

import math
import re
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
from main_cli import TINY_ARGS, run_main, tiny_quickstart

from vit_jax import models
from vit_jax.training import memory, optim
from vit_jax.training.config_checks import set_model_overrides


def figures(text: str) -> dict[str, float]:
    """{'parameters': MiB, 'optimizer state': MiB, ...} from a report."""
    return {
        m[1].strip(): float(m[2]) for m in re.finditer(r"^  ([a-z ]+?)\s+([\d.]+) MiB", text, re.M)
    }


def test_the_report_gives_exact_state_bytes_and_the_compiled_steps_memory():
    config = tiny_quickstart()
    report = memory.report(config)
    model = models.create_model(config.model, num_classes=1000, **set_model_overrides(config))
    shapes = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)), train=False)
    )
    parameter_bytes = sum(4 * math.prod(x.shape) for x in jax.tree.leaves(shapes))
    found = figures(report)
    assert found["parameters"] == round(parameter_bytes / 2**20, 1)
    # AdamW: two moments per parameter and a step count
    assert abs(found["optimizer state"] - 2 * found["parameters"]) <= 0.1
    assert found["step temporaries"] > 0 and found["step arguments"] >= found["parameters"]
    assert "sharding replicate over 1 cpu device(s)" in report


def test_fsdp_on_eight_devices_reports_an_eighth_of_the_parameters(tmp_path):
    args = (*TINY_ARGS, "--config.model_overrides.hidden_size=64", "--print_memory")
    with ThreadPoolExecutor(2) as pool:
        replicated = pool.submit(run_main, *args, workdir=tmp_path, devices=8)
        sharded = run_main(*args, "--config.sharding=fsdp", workdir=tmp_path, devices=8)
        replicated = replicated.result()
    for done in (replicated, sharded):
        assert done.returncode == 0, done.stderr[-3000:]
    whole, split = figures(replicated.stdout), figures(sharded.stdout)
    assert "sharding fsdp over 8 cpu device(s)" in sharded.stdout
    assert split["parameters"] < 0.2 * whole["parameters"]  # 1/8, save the small arrays
    assert split["optimizer state"] < 0.2 * whole["optimizer state"]
    assert not (tmp_path / "checkpoints").exists()  # nothing trained, nothing written


def test_a_bfloat16_first_moment_takes_half_its_memory_and_nothing_else_changes():
    """config.mu_dtype='bfloat16' (big_vision's choice): AdamW's first moment in bfloat16, the
    second moment and the parameters in float32."""
    found = figures(memory.report(tiny_quickstart(mu_dtype="bfloat16")))
    assert abs(found["optimizer state"] - 1.5 * found["parameters"]) <= 0.1
    optimizer, _ = optim.create_optimizer(
        recipe=tiny_quickstart().recipes.quickstart, total_updates=10, mu_dtype="bfloat16"
    )
    state = optimizer.init({"w": jnp.zeros((4, 4))})
    (adam,) = jax.tree.leaves(state, is_leaf=lambda x: hasattr(x, "mu"))[:1]
    assert adam.mu["w"].dtype == jnp.bfloat16 and adam.nu["w"].dtype == jnp.float32
