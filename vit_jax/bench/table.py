"""The benchmark's printed results: the machine, one line per case as it finishes, and the
summary table."""

import os
from collections.abc import Sequence

import jax


def machine_line(*, torch_setup: str | None, allocator_set: bool) -> str:
    """Backend, versions, cores, PyTorch's and the allocator's settings and the load when the run
    starts."""
    return (
        f"backend {jax.default_backend()} ({jax.devices()[0].device_kind}), jax {jax.__version__}, "
        f"cores {len(os.sched_getaffinity(0))}, {torch_setup or 'no PyTorch'}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, allocator keeps freed memory: "
        f"{allocator_set}, load {os.getloadavg()}"
    )


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
            f" | pytorch{' compiled' if torch_result['compiled'] else ''} "
            f"{torch_result['images_per_second']:8.2f} img/s "
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
        "other = PyTorch (--compare pytorch; compiled with torch.compile on CUDA or with "
        "--torch_compile yes) for infer/train, the training loop for loop; "
        "ratio = jax/PyTorch, or loop/bare step."
    )
    return "\n".join(lines)
