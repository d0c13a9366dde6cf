"""The timing harness: timers of steps that may only dispatch work (as JAX does), run in turn
so that every framework sees the same machine load; XLA's FLOP count of a lowered step; and the
matrix-multiply peak measured in the same run, against which achieved FLOP/s are set.
"""

import collections
import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax.core import FrozenDict

MAX_IN_FLIGHT = 3


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


def dispatching_timer(name: str, call: Callable[[], object]) -> Timer:
    """A Timer of a jitted call that only dispatches its work: each step queues `call()`, with at
    most MAX_IN_FLIGHT results kept waiting (a matmul's output at GPU size is 128-256 MB), so the
    device always has work queued and the host makes no round trip per step; the wait blocks
    until every queued result is ready."""
    pending = collections.deque()

    def step() -> None:
        pending.append(call())
        if len(pending) > MAX_IN_FLIGHT:
            jax.block_until_ready(pending.popleft())

    def wait() -> None:
        jax.block_until_ready(list(pending))
        pending.clear()

    return Timer(name, step, wait)


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


def step_flops(*, model, lowered: jax.stages.Lowered, lower: Callable) -> float | None:
    """XLA FLOPs of the step `lowered` (= lower(model)), counted on `model` with every loop
    unrolled: XLA's cost analysis counts the body of a loop once (ResNets run long stages as a
    scan loop, see models_resnet.Stage). Models without loops are not lowered again."""
    if "unroll" in model.__dataclass_fields__:
        lowered = lower(model.clone(unroll=True))
    elif getattr(model, "resnet", None) is not None:
        lowered = lower(model.clone(resnet=FrozenDict({**model.resnet, "unroll": True})))
    return xla_flops(lowered)


def matmul_size() -> int:
    return 2048 if jax.default_backend() == "cpu" else 8192


def matmul_timers(*, dtypes: Sequence[str], compare: str) -> dict[str, list[Timer]]:
    """Per dtype, timers of a size x size jnp.dot (and a torch matmul with --compare)."""
    size = matmul_size()
    timers = {}
    for dtype in dtypes:
        a, b = jax.random.normal(jax.random.key(0), (2, size, size), dtype=jnp.dtype(dtype))
        dot = jax.jit(jnp.dot).lower(a, b).compile()
        timers[dtype] = [dispatching_timer("jax", lambda dot=dot, a=a, b=b: dot(a, b))]
        if compare == "pytorch":
            from vit_jax.bench import torch_models

            device = torch_models.default_device()
            step = torch_models.make_matmul(size=size, dtype=dtype, device=device)
            timers[dtype].append(Timer("pytorch", step, torch_models.synchronize(device=device)))
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
    return (
        "; ".join(
            f"{dtype} " + ", ".join(f"{name} {value / 1e9:.1f}" for name, value in by_name.items())
            for dtype, by_name in peaks.items()
        )
        + f" GFLOP/s ({matmul_size()}^2 matmul, best run)"
    )


def framework_result(*, timer: Timer, batch_size: int, flops: float | None, peak: float) -> dict:
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
