r"""Input-pipeline throughput: decode, resize and normalise with grain worker processes.

    python -m vit_jax.benchmark_input
    python -m vit_jax.benchmark_input --data_dir data --worker_count 4 --batch_size 128

Reads the prepared 'shoe_sandal_boot' training split from --data_dir; without it, prepares
synthetic 136x102 JPEGs (the real images' size) as an image folder in a temporary directory.
Prints images per second after a warm-up that includes starting the workers.
"""

import argparse
import tempfile
from pathlib import Path

from vit_jax.common.help import HelpFormatter, examples, positive_int


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.benchmark_input",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--data_dir", help="where shoe_sandal_boot was prepared (without it: synthetic JPEGs)"
    )
    parser.add_argument(
        "--worker_count", type=positive_int, default=2, help="grain worker processes"
    )
    parser.add_argument("--batch_size", type=positive_int, default=64, help="images per batch")
    parser.add_argument(
        "--num_batches", type=positive_int, default=30, help="batches timed after the warm-up"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    from vit_jax.bench.input import images_per_second, synthetic_dataset  # grain, TFDS

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
