"""Inference and training throughput of the vit_jax models, optionally against PyTorch.

  python -m vit_jax.benchmark --model ViT-B_16,ResNet-50 --mode infer,train --batch_size 16 \
      [--image_size 224] [--dtype float32,bfloat16] [--compare pytorch] [--json]

For every (model, mode) case it prints images per second (median over timed runs after
compilation), the FLOP/s achieved according to XLA's cost analysis of the step, and that
as a fraction of the matrix-multiply peak measured in the same run (the best run of a large
jnp.dot in the case's dtype, timed at the start and at the end). With --compare pytorch the same
architecture runs in PyTorch (vit_jax.bench.torch_models) on the same batch, thread count and
precision (through torch.compile on a GPU, or where --torch_compile yes), and the table gives
our/PyTorch ratios. JAX and PyTorch runs alternate (A, B, A, B,
...) so both see the same machine load; load averages are printed with the results. XLA's
settings come from vit_jax.common.runtime, as in main.py. Both frameworks' FLOP/s divide the same
count, XLA's for our step; our ViT skips the last block's patch tokens
(vit_jax.models.vit.EncoderBlock), work PyTorch does, so PyTorch's ViT FLOP/s understate its own
rate by about 7%.

Modes: 'infer' (model.apply, train=False), 'train' (vit_jax.training.steps.make_train_step with
optax.adamw, state donated, wrapped by vit_jax.training.parallel.data_parallel as in training)
and 'loop' (the whole training loop of vit_jax.training.loop on the 'digits' data, input
pipeline, metrics and logging included, against the bare train step with the loop's own optimizer).
Cases run precision first, then mode, then model; --time_budget and failed cases:
vit_jax.bench.schedule.
"""

import argparse
import importlib.util
import json
import sys
from collections.abc import Sequence

from vit_jax import models
from vit_jax.bench.schedule import Budget, run_cases
from vit_jax.bench.table import machine_line, summary_table
from vit_jax.bench.timing import (
    matmul_peaks,
    matmul_timers,
    peak_line,
    set_peak_fractions,
    time_interleaved,
)
from vit_jax.common import runtime
from vit_jax.common.errors import UserError, run_command
from vit_jax.common.help import HelpFormatter, words

EXAMPLES = """examples:
  python -m vit_jax.benchmark --model ViT-B_16,ResNet-50 --mode train,infer --compare pytorch \\
      --dtype bfloat16,float32 --batch_size 256 --repeats 3 --time_budget 420   # a GPU
  python -m vit_jax.benchmark --model ViT-Ti_16 --mode loop --batch_size 16 --repeats 3
"""
MODES = ("infer", "train", "loop")
DTYPES = ("float32", "bfloat16")
COMPARE = ("none", "pytorch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.benchmark",
        description=__doc__.split("\n")[0],
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", default="ViT-B_16", help="comma-separated, of " + words(models.MODEL_NAMES)
    )
    parser.add_argument("--mode", default="infer", help=f"comma-separated, of {words(MODES)}")
    parser.add_argument("--batch_size", type=int, default=16, help="images per step")
    parser.add_argument("--image_size", type=int, default=224, help="square images of this side")
    parser.add_argument("--dtype", default="float32", help=f"comma-separated, of {words(DTYPES)}")
    parser.add_argument(
        "--compare", default="none", choices=COMPARE, help="time PyTorch on the same batch too"
    )
    parser.add_argument(
        "--torch_compile",
        default="auto",
        choices=("auto", "yes", "no"),
        help="PyTorch through torch.compile; auto: on CUDA only",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per framework and case")
    parser.add_argument(
        "--min_run_seconds", type=float, default=1.0, help="each timed run repeats steps this long"
    )
    parser.add_argument(
        "--loop_log_every", type=int, default=10, help="log_every_steps of the loop case's runs"
    )
    parser.add_argument(
        "--time_budget",
        type=float,
        default=0,
        help="seconds; no case starts that would pass it (0: none)",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line per case")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, valid in (("model", models.MODEL_NAMES), ("mode", MODES), ("dtype", DTYPES)):
        values = getattr(args, flag).split(",")
        if wrong := [value for value in values if value not in valid]:
            parser.error(f"--{flag} {wrong[0]!r} is not one of {', '.join(valid)}")
        setattr(args, flag + "s", values)
    if args.batch_size < 1 or args.repeats < 1:
        parser.error("--batch_size and --repeats must be >= 1")
    if args.image_size < 1 or args.loop_log_every < 1:
        parser.error("--image_size and --loop_log_every must be >= 1")
    if min(args.min_run_seconds, args.time_budget) < 0:
        parser.error("--min_run_seconds and --time_budget must be >= 0")
    if args.compare == "pytorch" and importlib.util.find_spec("torch") is None:
        parser.error("--compare pytorch needs PyTorch, which is not installed (pip install torch)")
    return args


def main(argv: Sequence[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    budget = Budget(seconds=args.time_budget)
    allocator_set = runtime.apply(share_accelerator=args.compare == "pytorch")
    torch_setup = None
    if args.compare == "pytorch":
        from vit_jax.bench import torch_models

        torch_setup = torch_models.prepare(device=torch_models.default_device())
    print(machine_line(torch_setup=torch_setup, allocator_set=allocator_set), flush=True)
    peak_timers = matmul_timers(dtypes=sorted({"float32", *args.dtypes}), compare=args.compare)
    all_peak_timers = [t for dtype_timers in peak_timers.values() for t in dtype_timers]
    time_interleaved(all_peak_timers, repeats=3, min_run_seconds=min(args.min_run_seconds, 0.5))
    print(f"matmul peak at start: {peak_line(matmul_peaks(peak_timers))}", flush=True)
    cases, failed = run_cases(args=args, budget=budget, peaks=lambda: matmul_peaks(peak_timers))
    for _ in range(3):
        for timer in all_peak_timers:
            timer.run()
    peaks = matmul_peaks(peak_timers)
    print(f"matmul peak, start and end: {peak_line(peaks)}")
    for case in cases:
        set_peak_fractions(case, peak=peaks[case["dtype"]]["jax"])
    print()
    print(summary_table(cases))
    if args.json:
        for case in cases:
            print(json.dumps(case))
    if failed:
        raise UserError(f"{len(failed)} case(s) failed: " + "; ".join(failed))
    return cases


if __name__ == "__main__":
    sys.exit(run_command("benchmark", main, debug="--debug" in sys.argv))
