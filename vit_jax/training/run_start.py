"""A fine-tuning run ready for its first step (its optimizer, train state and step, prefetching
training iterator, checkpoint manager and progress, restored from its latest intact checkpoint),
and the training metrics of each logging window. The loop (loop.py) runs it.
"""

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import jax
import ml_collections
from jax.sharding import Mesh

from vit_jax.checkpoints import run_checkpoints
from vit_jax.data import input_pipeline
from vit_jax.data.preprocessing import parse_preprocessing
from vit_jax.training import experiment, optim, parallel, sharding
from vit_jax.training.prefetch import DevicePrefetch
from vit_jax.training.progress import (
    NonFiniteLossError,
    Progress,
    Window,
    check_same_config,
    check_same_data,
    json_config,
)
from vit_jax.training.steps import data_parallel_train_step


@dataclasses.dataclass
class Run:
    """A fine-tuning run ready for its first step: restored from its latest checkpoint when it
    has one (`latest`, its step; None for a fresh run)."""

    state: object
    train_step: Callable
    train_iter: DevicePrefetch
    manager: object
    progress: Progress
    learning_rate: Callable
    total_steps: int
    latest: int | None


def prepare_run(
    *, config: ml_collections.ConfigDict, exp: experiment.Experiment, mesh: Mesh, workdir: Path
) -> Run:
    """The optimizer, the (possibly sharded) train state and step, the prefetching training
    iterator, the checkpoint manager and the progress, restored from the latest intact
    checkpoint of `workdir` when there is one."""
    recipe = exp.recipe
    total_steps = exp.steps_per_epoch * config.num_epochs
    fsdp = config.get("sharding", "replicate") == "fsdp"
    optimizer, schedule = optim.create_optimizer(
        recipe=recipe,
        total_updates=total_steps,
        clip=not fsdp,
        mu_dtype=config.get("mu_dtype", "float32"),
    )
    state, specs = sharding.initial_state(
        variables=exp.variables,
        optimizer=optimizer,
        mesh=mesh,
        sharding=config.get("sharding", "replicate"),
    )
    train_step = data_parallel_train_step(
        state_specs=specs,
        clip_norm=recipe.grad_clip_norm if fsdp else None,
        mesh=mesh,
        model=exp.model,
        optimizer=optimizer,
        seed=config.seed,
        accum_steps=recipe.grad_accum_steps,
        normalisation=parse_preprocessing(preprocessing=exp.preprocessing),
    )
    train_iter = DevicePrefetch(
        iterator=iter(experiment.train_loader(config=config, exp=exp)),
        put=functools.partial(
            parallel.shard_batch, mesh=mesh, accum_steps=recipe.grad_accum_steps
        ),
        depth=config.prefetch_batches,
        adopt_state=input_pipeline.adopt_earlier_state,
    )
    manager = run_checkpoints.create_manager(
        directory=workdir / "checkpoints", keep=config.keep_checkpoints
    )
    progress = Progress(
        config=json_config(config),
        dataset_fingerprint=input_pipeline.fingerprint(
            dataset=config.dataset, data_dir=config.data_dir
        ),
        model=exp.description(image_size=tuple(config.image_size)),
    )

    def check_progress(saved: dict) -> None:
        check_same_config(saved=saved["config"], current=progress.config, workdir=workdir)
        check_same_data(saved=saved, current=progress, dataset=config.dataset, workdir=workdir)

    resumed = run_checkpoints.restore_latest_intact(
        manager=manager, state=state, data_iterator=train_iter, check_progress=check_progress
    )
    latest = None
    if resumed is not None:
        latest, saved, state = resumed
        progress = Progress(**saved)
    return Run(
        state=state,
        train_step=train_step,
        train_iter=train_iter,
        manager=manager,
        progress=progress,
        learning_rate=jax.jit(schedule),
        total_steps=total_steps,
        latest=latest,
    )


def close_window(*, run: Run, window: Window, step: int, batch_size: int) -> dict:
    """The training metrics of the steps since the last log line, added to the progress; a
    non-finite loss stops the run, keeping its last good checkpoint."""
    try:
        losses, norms, seconds = window.close(step=step)
    except NonFiniteLossError as error:
        run.manager.wait_until_finished()
        raise NonFiniteLossError(
            f"{error} The last good checkpoint (step {run.manager.latest_step()}) is kept "
            f"in {run.manager.directory}; lower the learning rate or check the data."
        ) from None
    run.progress.add_steps(losses=losses, seconds=seconds)
    images = (step - window.first_step + 1) * batch_size
    return {
        "loss": float(losses.mean()),
        "grad_norm": float(norms.mean()),
        "learning_rate": float(run.learning_rate(step - 1)),
        "images_per_second": images / seconds,
    }
