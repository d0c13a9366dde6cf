"""Input-pipeline throughput: decode, resize and normalise with grain worker processes.

  python -m vit_jax.benchmark_input [--data_dir DIR] [--worker_count 2] [--batch_size 64]

Reads the prepared 'shoe_sandal_boot' training split from --data_dir; without it, prepares
synthetic 136x102 JPEGs (the real images' size) as an image folder in a temporary directory.
Prints images per second after a warm-up that includes starting the workers.
"""

import argparse
import tempfile
from pathlib import Path

from vit_jax.bench.input import images_per_second, synthetic_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", help="where shoe_sandal_boot was prepared (else synthetic)")
    parser.add_argument("--worker_count", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--num_batches", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.data_dir:
            dataset, data_dir = "shoe_sandal_boot", args.data_dir
        else:
            dataset, data_dir = synthetic_dataset(directory=Path(scratch)), scratch
        rate = images_per_second(
            dataset=dataset,
            data_dir=data_dir,
            worker_count=args.worker_count,
            batch_size=args.batch_size,
            num_batches=args.num_batches,
        )
    print(
        f"{dataset}: {rate:.1f} images/s (decode + resize to 224x224 + normalise, "
        f"{args.worker_count} workers, batch {args.batch_size}, {args.num_batches} batches)"
    )


if __name__ == "__main__":
    main()
