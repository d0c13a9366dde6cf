"""The benchmark's loop case: one epoch of the real training loop (vit_jax.training.loop) on the
embedded 'digits' data, against the loop's own compiled train step on the same loader's batches
already on the devices, in alternating runs. Their ratio (loop / bare step, images per second)
is what the loop loses to loading, logging and checkpoints: near 1 when the input pipeline keeps
up, far below 1 when it does not.
"""

import argparse
import json
import tempfile
from pathlib import Path

import jax

from vit_jax.bench.cases import case_fields
from vit_jax.bench.timing import Timer, framework_result, step_flops
from vit_jax.training import parallel
from vit_jax.training.steps import data_parallel_train_step
from vit_jax.training.train_state import create_train_state


def loop_config(*, name: str, args: argparse.Namespace):
    """The training loop's config for the loop case: `name` from scratch on 'digits', one epoch."""
    from vit_jax.training import config_defaults  # ml_collections: only the loop case needs it

    config = config_defaults.get_config(model="vit", mode="finetune")
    config.model = name
    config.checkpoint_dir = ""
    config.init = "scratch"
    config.dataset = "digits"
    config.data_dir = None
    config.image_size = (args.image_size, args.image_size)
    config.dtype = args.dtype
    config.num_epochs = 1
    config.eval_batch_size = args.batch_size
    config.recipes.study.batch_size = args.batch_size
    config.log_every_steps = args.loop_log_every
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 0
    config.keep_checkpoints = 1
    config.progress_bar = False
    return config


def loop_images_per_second(*, metrics_path: Path, batch_size: int) -> tuple[float, int]:
    """Images per second of the loop's logged training windows after the first (compilation);
    (images per second, steps counted)."""
    windows = [
        line
        for line in map(json.loads, metrics_path.read_text().splitlines())
        if line["split"] == "train"
    ]
    if len(windows) < 2:
        raise ValueError(
            f"{metrics_path} has {len(windows)} training log lines; the loop case needs at least "
            "2 (lower --loop_log_every)"
        )
    images = seconds = 0.0
    for previous, window in zip(windows, windows[1:], strict=False):
        window_images = (window["step"] - previous["step"]) * batch_size
        images += window_images
        seconds += window_images / window["images_per_second"]
    return images / seconds, int(images // batch_size)


def bare_step_timer(*, config, exp, optimizer) -> tuple[Timer, float | None]:
    """The training loop's own compiled step (uint8 pixels normalised on the device) over the
    batches of the loop's own loader for one epoch, transferred to the devices beforehand and
    taken in turn: what the loop would reach if loading, logging and checkpoints cost nothing."""
    from vit_jax.data.preprocessing import parse_preprocessing
    from vit_jax.training import experiment  # grain and TFDS: only the loop case needs them

    mesh = parallel.create_mesh()
    loader = experiment.train_loader(config=config, exp=exp)  # the loop's, for one epoch
    batches = [parallel.shard_batch(batch, mesh=mesh) for batch in loader]
    state = parallel.replicate(
        create_train_state(variables=exp.variables, optimizer=optimizer), mesh=mesh
    )

    def lower(model):
        train_step = data_parallel_train_step(
            mesh=mesh,
            model=model,
            optimizer=optimizer,
            seed=config.seed,
            normalisation=parse_preprocessing(preprocessing=exp.preprocessing),
        )
        return train_step.lower(state, batches[0])

    lowered = lower(exp.model)
    compiled = lowered.compile()
    holder = {"state": state, "metrics": None, "next": 0}

    def step() -> None:
        batch = batches[holder["next"] % len(batches)]
        holder["state"], holder["metrics"] = compiled(holder["state"], batch)
        holder["next"] += 1

    def wait() -> None:
        jax.block_until_ready((holder["state"], holder["metrics"]))

    return Timer("jax", step, wait), step_flops(model=exp.model, lowered=lowered, lower=lower)


def run_loop_case(*, name: str, args: argparse.Namespace, peaks: dict) -> dict:
    """The training loop of vit_jax.training.loop against its bare train step on the same
    batches, alternating runs."""
    from vit_jax.training import experiment, loop, optim

    config = loop_config(name=name, args=args)
    exp = experiment.build(config)
    optimizer, _ = optim.create_optimizer(
        recipe=exp.recipe, total_updates=exp.steps_per_epoch * config.num_epochs
    )
    bare, flops = bare_step_timer(config=config, exp=exp, optimizer=optimizer)
    bare.calibrate(min_run_seconds=args.min_run_seconds)
    loop_seconds, steps_counted = [], 0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            loop.train_and_evaluate(config=config, workdir=workdir)
            images_per_second, steps_counted = loop_images_per_second(
                metrics_path=Path(workdir, "metrics.jsonl"), batch_size=args.batch_size
            )
        loop_seconds.append(args.batch_size / images_per_second)
        bare.run()
    loop = Timer("loop", step=lambda: None, iterations=steps_counted, seconds=loop_seconds)
    peak = peaks[args.dtype]["jax"]
    results = {
        t.name: framework_result(timer=t, batch_size=args.batch_size, flops=flops, peak=peak)
        for t in (bare, loop)
    }
    overhead = results["loop"]["step_seconds"] / results["jax"]["step_seconds"] - 1
    return {
        **case_fields(name=name, mode="loop", args=args),
        **results,
        "ratio": None,
        "loop_overhead": overhead,
    }
