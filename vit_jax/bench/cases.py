"""The benchmark's model cases: a synthetic batch, the vit_jax model as training builds it, and
timers of its inference and train step, beside the PyTorch model's (bench/torch_models.py).
"""

import argparse
import functools
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax

from vit_jax import models
from vit_jax.bench.timing import (
    Timer,
    dispatching_timer,
    framework_result,
    step_flops,
    time_interleaved,
)
from vit_jax.training import parallel
from vit_jax.training.parallel import DATA_AXIS
from vit_jax.training.steps import data_parallel_train_step
from vit_jax.training.train_state import create_train_state

NUM_CLASSES = 1000
# Both frameworks' training optimizer: torch.optim.AdamW's defaults (given to
# bench/torch_models.py's step; defined here so that JAX-only runs need no torch).
ADAMW = {"learning_rate": 1e-3, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.01}


def synthetic_batch(
    *, batch_size: int, image_size: tuple[int, int], seed: int = 0
) -> dict[str, np.ndarray]:
    """Images uniform in [-1, 1] (NHWC float32) and random labels."""
    rng = np.random.default_rng(seed)
    return {
        "image": rng.uniform(-1, 1, (batch_size, *image_size, 3)).astype(np.float32),
        "label": rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32),
    }


def create_model(*, name: str, dtype: str):
    """The vit_jax model as training builds it (BatchNorm statistics averaged over DATA_AXIS)."""
    overrides = {"axis_name": DATA_AXIS} if "axis_name" in models.architecture(name) else {}
    return models.create_model(name, num_classes=NUM_CLASSES, dtype=dtype, **overrides)


def init_variables(*, model, image_size: tuple[int, int]) -> dict:
    image = jnp.zeros((1, *image_size, 3), jnp.float32)
    return jax.jit(functools.partial(model.init, train=False))(jax.random.key(0), image)


def jax_infer_timer(*, model, variables: dict, batch: dict) -> tuple[Timer, float | None]:
    """model.apply(train=False) on the batch; (timer, XLA FLOPs per step)."""
    images = jax.device_put(batch["image"])

    def lower(model):
        return jax.jit(functools.partial(model.apply, train=False)).lower(variables, images)

    lowered = lower(model)
    compiled = lowered.compile()
    timer = dispatching_timer("jax", lambda: compiled(variables, images))
    return timer, step_flops(model=model, lowered=lowered, lower=lower)


def jax_train_timer(
    *, model, variables: dict, batch: dict, optimizer: optax.GradientTransformation
) -> tuple[Timer, float | None]:
    """The training step of vit_jax.training.loop (value_and_grad + optimizer update, state
    donated)."""
    mesh = parallel.create_mesh()
    state = parallel.replicate(
        create_train_state(variables=variables, optimizer=optimizer), mesh=mesh
    )
    shards = parallel.shard_batch(batch, mesh=mesh)

    def lower(model):
        train_step = data_parallel_train_step(mesh=mesh, model=model, optimizer=optimizer, seed=0)
        return train_step.lower(state, shards)

    lowered = lower(model)
    compiled = lowered.compile()
    holder = {"state": state, "metrics": None}

    def step() -> None:
        holder["state"], holder["metrics"] = compiled(holder["state"], shards)

    def wait() -> None:
        jax.block_until_ready((holder["state"], holder["metrics"]))

    return Timer("jax", step, wait), step_flops(model=model, lowered=lowered, lower=lower)


def benchmark_adamw() -> optax.GradientTransformation:
    return optax.adamw(
        ADAMW["learning_rate"],
        b1=ADAMW["b1"],
        b2=ADAMW["b2"],
        eps=ADAMW["eps"],
        weight_decay=ADAMW["weight_decay"],
    )


def run_case(*, name: str, mode: str, args: argparse.Namespace, peaks: dict) -> dict:
    """One (model, mode) case of 'infer' or 'train': JAX and, with --compare, PyTorch."""
    image_size = (args.image_size, args.image_size)
    batch = synthetic_batch(batch_size=args.batch_size, image_size=image_size)
    model = create_model(name=name, dtype=args.dtype)
    variables = init_variables(model=model, image_size=image_size)
    if mode == "infer":
        timer, flops = jax_infer_timer(model=model, variables=variables, batch=batch)
    else:
        timer, flops = jax_train_timer(
            model=model, variables=variables, batch=batch, optimizer=benchmark_adamw()
        )
    timers = [timer]
    if args.compare == "pytorch":
        torch_timer = pytorch_timer(name=name, mode=mode, args=args, batch=batch)
        if torch_timer is not None:
            timers.append(torch_timer)
    time_interleaved(timers, repeats=args.repeats, min_run_seconds=args.min_run_seconds)
    peak = peaks[args.dtype]["jax"]
    results = {
        t.name: framework_result(timer=t, batch_size=args.batch_size, flops=flops, peak=peak)
        for t in timers
    }
    ratio = paired = None
    if "pytorch" in results:
        from vit_jax.bench.torch_models import default_device, release_memory

        release_memory(device=default_device())
        results["pytorch"]["compiled"] = torch_compiled(args=args, device=default_device())
        ratio = results["jax"]["images_per_second"] / results["pytorch"]["images_per_second"]
        pairs = zip(timer.seconds, timers[1].seconds, strict=True)
        paired = statistics.median(theirs / ours for ours, theirs in pairs)
    return {
        **case_fields(name=name, mode=mode, args=args),
        **results,
        "ratio": ratio,
        "ratio_paired_median": paired,
    }


def pytorch_timer(*, name: str, mode: str, args: argparse.Namespace, batch: dict) -> Timer | None:
    from vit_jax.bench import torch_models

    device = torch_models.default_device()
    image_size = (args.image_size, args.image_size)
    model = torch_models.create_model(
        name=name, num_classes=NUM_CLASSES, image_size=image_size, device=device
    )
    if model is None:
        return None
    common = {"images": batch["image"], "dtype": args.dtype, "device": device}
    common["compiled"] = torch_compiled(args=args, device=device)
    if mode == "infer":
        step = torch_models.make_infer(model=model, **common)
    else:
        step = torch_models.make_train(model=model, labels=batch["label"], adamw=ADAMW, **common)
    return Timer("pytorch", step, torch_models.synchronize(device=device))


def torch_compiled(*, args: argparse.Namespace, device: str) -> bool:
    """Whether the PyTorch side runs through torch.compile: --torch_compile yes, or auto on a
    CUDA device (on CPU, eager PyTorch with its oneDNN kernels is the baseline kept)."""
    return args.torch_compile == "yes" or (args.torch_compile == "auto" and device == "cuda")


def case_fields(*, name: str, mode: str, args: argparse.Namespace) -> dict:
    return {
        "model": name,
        "mode": mode,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "dtype": args.dtype,
        "backend": jax.default_backend(),
    }
