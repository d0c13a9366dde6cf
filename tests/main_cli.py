"""Runs main.py (and other JAX programs) in subprocesses for the tests; a tiny ViT on digits."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# configs/quickstart.py shrunk: a 1-layer ViT on 8x8 digits, 9 updates of 128 images per epoch.
TINY_ARGS = (
    "--config=configs/quickstart.py",
    "--config.progress_bar=False",
    "--config.image_size=(8,8)",
    "--config.model_overrides.hidden_size=16",
    "--config.model_overrides.mlp_dim=32",
    "--config.model_overrides.num_heads=2",
    "--config.model_overrides.num_layers=1",
    "--config.num_epochs=2",
    "--config.recipes.quickstart.warmup_steps=5",
    "--config.recipes.quickstart.batch_size=128",
    "--config.eval_batch_size=128",
    "--config.log_every_steps=3",
    "--config.checkpoint_every_steps=4",
)
TINY_STEPS_PER_EPOCH = 9


def tiny_quickstart(**fields):
    """The config of TINY_ARGS as a ConfigDict (for in-process runs), with `fields` set."""
    from configs import quickstart

    config = quickstart.get_config()
    config.update(
        image_size=(8, 8),
        num_epochs=2,
        eval_batch_size=128,
        log_every_steps=3,
        checkpoint_every_steps=4,
        progress_bar=False,
    )
    config.model_overrides.update(hidden_size=16, mlp_dim=32, num_heads=2, num_layers=1)
    config.recipes.quickstart.update(batch_size=128, warmup_steps=5)
    config.update(fields)
    return config


TIMING_KEYS = {"images_per_second", "epoch_seconds", "train_seconds", "compile_seconds", "started"}


def _command(args: tuple[str, ...], workdir: Path, kill_after_step: int | None) -> list[str]:
    if kill_after_step is None:
        program = [str(ROOT / "main.py")]
    else:
        program = [str(ROOT / "tests" / "kill_after_step.py"), str(kill_after_step)]
    return [sys.executable, *program, *args, f"--workdir={workdir}"]


def subprocess_env(env: dict[str, str] | None = None, *, devices: int = 1) -> dict[str, str]:
    """For JAX subprocesses: `devices` simulated CPU devices, and XLA's cheapest CPU compilation
    (it keeps the tests fast)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", **(env or {}))
    full_env["XLA_FLAGS"] = (
        f"--xla_backend_optimization_level=0 --xla_force_host_platform_device_count={devices}"
    )
    return full_env


def run_main(
    *args: str,
    workdir: Path,
    env: dict[str, str] | None = None,
    devices: int = 1,
    kill_after_step: int | None = None,
) -> subprocess.CompletedProcess:
    """Runs main.py with `args` and --workdir to the end, or until it SIGKILLs itself right
    after step `kill_after_step` (tests/kill_after_step.py)."""
    return subprocess.run(
        _command(args, workdir, kill_after_step),
        env=subprocess_env(env, devices=devices),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def without_timing(value: object) -> object:
    """`value` (parsed JSON) without the wall-clock numbers, which differ between runs."""
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value
