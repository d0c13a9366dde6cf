r"""Benchmark: convert a real-size ViT-B/16 .npz (imagenet21k+imagenet2012 ViT-B_16-224 layout,
200 arrays, 86.6M float32 parameters, ~346 MB) and print the time and peak memory.

    python -m vit_jax.benchmark_convert
    python -m vit_jax.benchmark_convert --workdir /tmp

The file is written array by array (random values, pre-Linen names as released), so writing it
adds no memory peak of its own; the conversion then runs twice: once timed (wall clock, peak
resident memory from getrusage), once under tracemalloc (peak of traced allocations, which
include numpy array buffers).
"""

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from vit_jax.common.help import HelpFormatter, examples


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.benchmark_convert",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--workdir", type=Path, help="folder for the 346 MB file (default: a temporary folder)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from vit_jax.bench.conversion_case import MODEL, max_rss_mib, write_vit_b16_npz
    from vit_jax.checkpoints.convert import convert

    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        npz = Path(folder) / "ViT-B_16-224.npz"
        num_arrays, num_params = write_vit_b16_npz(npz)
        size_mb = npz.stat().st_size / 1e6
        print(f"wrote {npz.name}: {num_arrays} arrays, {num_params:,} parameters, {size_mb:.1f} MB")
        rss_before = max_rss_mib()
        start = time.perf_counter()
        convert(input=npz, model=MODEL, output=Path(folder) / "converted", keep_head=True)
        seconds = time.perf_counter() - start
        rss_after = max_rss_mib()
        tracemalloc.start()
        convert(
            input=npz,
            model=MODEL,
            output=Path(folder) / "converted",
            keep_head=True,
            overwrite=True,
        )
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(f"conversion time: {seconds:.2f} s")
    print(
        f"peak resident memory (ru_maxrss): {rss_before:.0f} MiB before, {rss_after:.0f} MiB "
        f"after (+{rss_after - rss_before:.0f} MiB)"
    )
    print(
        f"tracemalloc peak during conversion: {traced_peak / 2**20:.0f} MiB "
        f"(file {size_mb / 1.048576:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
