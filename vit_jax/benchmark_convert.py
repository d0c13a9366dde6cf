"""Benchmark: convert a real-size ViT-B/16 .npz (imagenet21k+imagenet2012 ViT-B_16-224 layout,
200 arrays, 86.6M float32 parameters, ~346 MB) and print the time and peak memory.

    python -m vit_jax.benchmark_convert [--workdir DIR]

The file is written array by array (random values, pre-Linen names as released), so writing it
adds no memory peak of its own; the conversion then runs twice: once timed (wall clock, peak
resident memory from getrusage), once under tracemalloc (peak of traced allocations, which
include numpy array buffers).
"""

import argparse
import resource
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np

from vit_jax.checkpoint_formats.fit import expected_shapes
from vit_jax.checkpoint_names import PRE_LINEN_BLOCK_CHILDREN
from vit_jax.convert_checkpoint import convert

MODEL = "ViT-B_16"
# Linen -> pre-Linen module numbering inside an encoder block, as in the released .npz files.
PRE_LINEN = {linen: pre for pre, linen in PRE_LINEN_BLOCK_CHILDREN.items() if linen != pre}


def write_vit_b16_npz(path: Path) -> tuple[int, int]:
    """Writes the .npz one array at a time; returns (arrays, parameters)."""
    shapes = expected_shapes(model=MODEL, num_classes=1000, image_size=(224, 224), overrides={})
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for name, shape in shapes.items():
            key = name.removeprefix("params/")
            for linen, pre_linen in PRE_LINEN.items():
                key = key.replace(f"/{linen}/", f"/{pre_linen}/")
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                array = (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
                np.lib.format.write_array(member, array)
    return len(shapes), sum(int(np.prod(s)) for s in shapes.values())


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vit_jax.benchmark_convert")
    parser.add_argument("--workdir", type=Path, help="folder for the files (default: a temp dir)")
    args = parser.parse_args()
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
