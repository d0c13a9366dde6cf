"""Inference and training throughput of the vit_jax models, optionally against PyTorch.

  python -m vit_jax.benchmark --model ViT-B_16,ResNet-50 --mode infer,train --batch_size 16 \
      [--image_size 224] [--dtype float32|bfloat16] [--compare pytorch] [--json]

For every (model, mode) case it prints images per second (median over timed runs after
compilation), the FLOP/s achieved according to XLA's cost analysis of the step, and that
as a fraction of the matrix-multiply peak measured in the same run (the best run of a large
jnp.dot in the case's dtype, timed at the start and at the end). With --compare pytorch the same
architecture runs in PyTorch (vit_jax.benchmark_torch) on the same batch, thread count and
precision, and the table gives our/PyTorch ratios. JAX and PyTorch runs alternate (A, B, A, B,
...) so both see the same machine load; load averages are printed with the results. XLA's
settings come from vit_jax.xla_flags, as in main.py. Both frameworks' FLOP/s divide the same
count, XLA's for our step; our ViT skips the last block's patch tokens (models_vit.EncoderBlock),
work PyTorch does, so PyTorch's ViT FLOP/s understate its own rate by about 7%.

Modes: 'infer' (model.apply, train=False), 'train' (vit_jax.steps.make_train_step with
optax.adamw, state donated, wrapped by vit_jax.parallel.data_parallel as in training) and 'loop'
(the whole training loop of vit_jax.train on the 'digits' data, input pipeline, metrics and
logging included, against the bare train step with the loop's own optimizer).
"""

import argparse
import dataclasses
import functools
import json
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.core import FrozenDict
from jax.sharding import PartitionSpec as P

from vit_jax import models, parallel, xla_flags
from vit_jax.parallel import DATA_AXIS
from vit_jax.steps import make_train_step
from vit_jax.train_state import create_train_state

MODES = ("infer", "train", "loop")
DTYPES = ("float32", "bfloat16")
COMPARE = ("none", "pytorch")
NUM_CLASSES = 1000


def no_wait() -> None:
    """`wait` of a Timer whose steps run synchronously."""


@dataclasses.dataclass
class Timer:
    """Runs of `iterations` calls of `step` (which may only dispatch the work, as JAX does)
    followed by `wait` (until the work is done); the per-step seconds of the timed runs."""

    name: str
    step: Callable[[], None]
    wait: Callable[[], None] = no_wait
    iterations: int = 1
    seconds: list[float] = dataclasses.field(default_factory=list)

    def _run(self, iterations: int) -> float:
        start = time.perf_counter()
        for _ in range(iterations):
            self.step()
        self.wait()
        return (time.perf_counter() - start) / iterations

    def calibrate(self, *, min_run_seconds: float) -> None:
        """Warm-up step, then enough steps per timed run to last about `min_run_seconds`."""
        self._run(1)
        self.iterations = max(1, math.ceil(min_run_seconds / self._run(1)))

    def run(self) -> None:
        self.seconds.append(self._run(self.iterations))

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_interleaved(timers: Sequence[Timer], *, repeats: int, min_run_seconds: float) -> None:
    """Calibrates every timer, then runs them in turn (A, B, A, B, ...) `repeats` times."""
    for timer in timers:
        timer.calibrate(min_run_seconds=min_run_seconds)
    for _ in range(repeats):
        for timer in timers:
            timer.run()


def xla_flops(lowered: jax.stages.Lowered) -> float | None:
    """FLOPs of one call of `lowered` according to XLA's cost analysis (None if unavailable)."""
    analysis = lowered.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else None
    if not analysis or "flops" not in analysis:
        return None
    return float(analysis["flops"])


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
    overrides = {"axis_name": DATA_AXIS} if "axis_name" in models.get_config(name) else {}
    return models.create_model(name, num_classes=NUM_CLASSES, dtype=dtype, **overrides)


def init_variables(*, model, image_size: tuple[int, int]) -> dict:
    image = jnp.zeros((1, *image_size, 3), jnp.float32)
    return jax.jit(functools.partial(model.init, train=False))(jax.random.key(0), image)


def step_flops(*, model, lowered: jax.stages.Lowered, lower: Callable) -> float | None:
    """XLA FLOPs of the step `lowered` (= lower(model)), counted on `model` with every loop
    unrolled: XLA's cost analysis counts the body of a loop once (ResNets run long stages as a
    scan loop, see models_resnet.Stage). Models without loops are not lowered again."""
    if "unroll" in model.__dataclass_fields__:
        lowered = lower(model.clone(unroll=True))
    elif getattr(model, "resnet", None) is not None:
        lowered = lower(model.clone(resnet=FrozenDict({**model.resnet, "unroll": True})))
    return xla_flops(lowered)


def jax_infer_timer(*, model, variables: dict, batch: dict) -> tuple[Timer, float | None]:
    """model.apply(train=False) on the batch; (timer, XLA FLOPs per step)."""
    images = jax.device_put(batch["image"])

    def lower(model):
        return jax.jit(functools.partial(model.apply, train=False)).lower(variables, images)

    lowered = lower(model)
    compiled = lowered.compile()

    outputs = []

    def step() -> None:
        outputs.append(compiled(variables, images))

    def wait() -> None:
        jax.block_until_ready(outputs)
        outputs.clear()

    return Timer("jax", step, wait), step_flops(model=model, lowered=lowered, lower=lower)


def jax_train_timer(
    *, model, variables: dict, batch: dict, optimizer: optax.GradientTransformation
) -> tuple[Timer, float | None]:
    """The training step of vit_jax.train (value_and_grad + optimizer update, state donated)."""
    mesh = parallel.create_mesh()
    state = parallel.replicate(
        create_train_state(variables=variables, optimizer=optimizer), mesh=mesh
    )
    shards = parallel.shard_batch(batch, mesh=mesh)

    def lower(model):
        train_step = parallel.data_parallel(
            make_train_step(model=model, optimizer=optimizer, seed=0),
            mesh=mesh,
            in_specs=(P(), P(DATA_AXIS)),
            out_specs=(P(), P()),
            donate_argnums=(0,),
        )
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
    from vit_jax.benchmark_torch import ADAMW

    return optax.adamw(
        ADAMW["learning_rate"],
        b1=ADAMW["b1"],
        b2=ADAMW["b2"],
        eps=ADAMW["eps"],
        weight_decay=ADAMW["weight_decay"],
    )


def matmul_size() -> int:
    return 2048 if jax.default_backend() == "cpu" else 8192


def matmul_timers(*, dtypes: Sequence[str], compare: str) -> dict[str, list[Timer]]:
    """Per dtype, timers of a size x size jnp.dot (and a torch matmul with --compare)."""
    size = matmul_size()
    timers = {}
    for dtype in dtypes:
        a, b = jax.random.normal(jax.random.key(0), (2, size, size), dtype=jnp.dtype(dtype))
        dot = jax.jit(jnp.dot).lower(a, b).compile()
        timers[dtype] = [Timer("jax", lambda dot=dot, a=a, b=b: dot(a, b).block_until_ready())]
        if compare == "pytorch":
            from vit_jax import benchmark_torch

            device = benchmark_torch.default_device()
            step = benchmark_torch.make_matmul(size=size, dtype=dtype, device=device)
            timers[dtype].append(Timer("pytorch", step))
    return timers


def matmul_peaks(timers: dict[str, list[Timer]]) -> dict[str, dict[str, float]]:
    """Per dtype and framework, the best matrix-multiply FLOP/s of all runs so far (the run
    least disturbed by other load on the machine)."""
    flops = 2.0 * matmul_size() ** 3
    return {
        dtype: {timer.name: flops / min(timer.seconds) for timer in dtype_timers}
        for dtype, dtype_timers in timers.items()
    }


def peak_line(peaks: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{dtype} " + ", ".join(f"{name} {value / 1e9:.1f}" for name, value in by_name.items())
        for dtype, by_name in peaks.items()
    ) + f" GFLOP/s ({matmul_size()}^2 matmul, best run)"


def _framework_result(*, timer: Timer, batch_size: int, flops: float | None, peak: float) -> dict:
    seconds = timer.median
    flops_per_second = flops / seconds if flops else None
    return {
        "images_per_second": batch_size / seconds,
        "step_seconds": seconds,
        "step_seconds_runs": timer.seconds,
        "iterations_per_run": timer.iterations,
        "flops_per_step": flops,
        "flops_per_second": flops_per_second,
        "peak_fraction": flops_per_second / peak if flops_per_second else None,
    }


def set_peak_fractions(case: dict, *, peak: float) -> None:
    """Recomputes the case's peak fractions for the final matmul peak."""
    case["peak_flops_per_second"] = peak
    for framework in ("jax", "pytorch", "loop"):
        result = case.get(framework)
        if result and result["flops_per_second"]:
            result["peak_fraction"] = result["flops_per_second"] / peak


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
        t.name: _framework_result(timer=t, batch_size=args.batch_size, flops=flops, peak=peak)
        for t in timers
    }
    ratio = paired = None
    if "pytorch" in results:
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
    from vit_jax import benchmark_torch

    device = benchmark_torch.default_device()
    image_size = (args.image_size, args.image_size)
    model = benchmark_torch.create_model(
        name=name, num_classes=NUM_CLASSES, image_size=image_size, device=device
    )
    if model is None:
        return None
    if mode == "infer":
        step = benchmark_torch.make_infer(
            model=model, images=batch["image"], dtype=args.dtype, device=device
        )
    else:
        step = benchmark_torch.make_train(
            model=model,
            images=batch["image"],
            labels=batch["label"],
            dtype=args.dtype,
            device=device,
        )
    return Timer("pytorch", step)


def case_fields(*, name: str, mode: str, args: argparse.Namespace) -> dict:
    return {
        "model": name,
        "mode": mode,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "dtype": args.dtype,
        "backend": jax.default_backend(),
    }


def loop_config(*, name: str, args: argparse.Namespace):
    """The training loop's config for the loop case: `name` from scratch on 'digits', one epoch."""
    from configs import common

    config = common.get_config(model="vit", mode="finetune")
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


def run_loop_case(*, name: str, args: argparse.Namespace, peaks: dict) -> dict:
    """The training loop of vit_jax.train against its bare train step, alternating runs."""
    from vit_jax import experiment, optim, train

    config = loop_config(name=name, args=args)
    exp = experiment.build(config)
    optimizer, _ = optim.create_optimizer(
        recipe=exp.recipe, total_updates=exp.steps_per_epoch * config.num_epochs
    )
    batch = synthetic_batch(batch_size=args.batch_size, image_size=tuple(config.image_size))
    batch["label"] %= exp.info.num_classes
    bare, flops = jax_train_timer(
        model=exp.model, variables=exp.variables, batch=batch, optimizer=optimizer
    )
    bare.calibrate(min_run_seconds=args.min_run_seconds)
    loop_seconds, steps_counted = [], 0
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workdir:
            train.train_and_evaluate(config=config, workdir=workdir)
            images_per_second, steps_counted = loop_images_per_second(
                metrics_path=Path(workdir, "metrics.jsonl"), batch_size=args.batch_size
            )
        loop_seconds.append(args.batch_size / images_per_second)
        bare.run()
    loop = Timer("loop", step=lambda: None, iterations=steps_counted, seconds=loop_seconds)
    peak = peaks[args.dtype]["jax"]
    results = {
        t.name: _framework_result(timer=t, batch_size=args.batch_size, flops=flops, peak=peak)
        for t in (bare, loop)
    }
    overhead = results["loop"]["step_seconds"] / results["jax"]["step_seconds"] - 1
    return {
        **case_fields(name=name, mode="loop", args=args),
        **results,
        "ratio": None,
        "loop_overhead": overhead,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def case_line(case: dict) -> str:
    """One human-readable line per case."""
    head = f"{case['model']:<12} {case['mode']:<5} b={case['batch_size']} {case['dtype']}"
    jax_result = case["jax"]
    text = (
        f"{head}  jax {jax_result['images_per_second']:8.2f} img/s "
        f"{_fmt(jax_result['flops_per_second'] and jax_result['flops_per_second'] / 1e9, '7.1f')}"
        f" GFLOP/s ({_fmt(jax_result['peak_fraction'], '.0%')} of peak)"
    )
    if case.get("pytorch"):
        torch_result = case["pytorch"]
        text += (
            f" | pytorch {torch_result['images_per_second']:8.2f} img/s "
            f"({_fmt(torch_result['peak_fraction'], '.0%')} of peak) | ratio {case['ratio']:.3f}x"
        )
    if case["mode"] == "loop":
        text += (
            f" | loop {case['loop']['images_per_second']:8.2f} img/s, "
            f"overhead {case['loop_overhead']:+.1%}"
        )
    return text + f"  load {case['loadavg'][0]:.2f}"


def summary_table(cases: Sequence[dict]) -> str:
    """A plain table of every case: images per second, peak fractions and ratios."""
    header = (
        f"{'model':<13}{'mode':<6}{'dtype':<9}{'batch':>5} {'jax img/s':>10} {'%peak':>6} "
        f"{'other img/s':>12} {'%peak':>6} {'ratio':>7} {'load':>5}"
    )
    lines = [header, "-" * len(header)]
    for case in cases:
        other = case.get("pytorch") or case.get("loop")
        other_ips = other["images_per_second"] if other else None
        other_peak = other["peak_fraction"] if other else None
        if case["mode"] == "loop":
            ratio = other_ips / case["jax"]["images_per_second"]
        else:
            ratio = case["ratio"]
        lines.append(
            f"{case['model']:<13}{case['mode']:<6}{case['dtype']:<9}{case['batch_size']:>5} "
            f"{case['jax']['images_per_second']:>10.2f} "
            f"{_fmt(case['jax']['peak_fraction'], '.0%'):>6} "
            f"{_fmt(other_ips, '.2f'):>12} {_fmt(other_peak, '.0%'):>6} "
            f"{_fmt(ratio, '.3f'):>7} {case['loadavg'][0]:>5.2f}"
        )
    lines.append(
        "other = PyTorch (--compare pytorch) for infer/train, the training loop for loop; "
        "ratio = jax/PyTorch, or loop/bare step."
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.benchmark", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", default="ViT-B_16", help="comma-separated model names")
    parser.add_argument("--mode", default="infer", help=f"comma-separated, of {MODES}")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument("--compare", default="none", choices=COMPARE)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per framework and case")
    parser.add_argument(
        "--min_run_seconds", type=float, default=1.0, help="each timed run repeats steps this long"
    )
    parser.add_argument(
        "--loop_log_every", type=int, default=10, help="log_every_steps of the loop case's runs"
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line per case")
    args = parser.parse_args(argv)
    args.models = args.model.split(",")
    args.modes = args.mode.split(",")
    for model in args.models:
        if model not in models.MODEL_NAMES:
            parser.error(f"--model {model!r} is not one of {', '.join(models.MODEL_NAMES)}")
    for mode in args.modes:
        if mode not in MODES:
            parser.error(f"--mode {mode!r} is not one of {MODES}")
    if args.batch_size < 1 or args.repeats < 1:
        parser.error("--batch_size and --repeats must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    allocator_set = xla_flags.apply()
    args = parse_args(argv)
    if args.compare == "pytorch":
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        threads = torch.get_num_threads()
    else:
        threads = None
    print(
        f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
        f"cores {len(os.sched_getaffinity(0))}, torch threads {threads}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, allocator keeps freed memory: "
        f"{allocator_set}, load {os.getloadavg()}",
        flush=True,
    )
    peak_timers = matmul_timers(dtypes=sorted({"float32", args.dtype}), compare=args.compare)
    all_peak_timers = [t for dtype_timers in peak_timers.values() for t in dtype_timers]
    time_interleaved(all_peak_timers, repeats=3, min_run_seconds=min(args.min_run_seconds, 0.5))
    print(f"matmul peak at start: {peak_line(matmul_peaks(peak_timers))}", flush=True)
    cases = []
    for name in args.models:
        for mode in args.modes:
            peaks = matmul_peaks(peak_timers)
            if mode == "loop":
                case = run_loop_case(name=name, args=args, peaks=peaks)
            else:
                case = run_case(name=name, mode=mode, args=args, peaks=peaks)
            case["loadavg"] = list(os.getloadavg())
            cases.append(case)
            print(case_line(case), flush=True)
    for _ in range(3):
        for timer in all_peak_timers:
            timer.run()
    peaks = matmul_peaks(peak_timers)
    print(f"matmul peak, start and end: {peak_line(peaks)}")
    for case in cases:
        set_peak_fractions(case, peak=peaks[args.dtype]["jax"])
    print()
    print(summary_table(cases))
    if args.json:
        for case in cases:
            print(json.dumps(case))
    return cases


if __name__ == "__main__":
    main()
