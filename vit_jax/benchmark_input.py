"""Input-pipeline throughput: decode, resize and normalise with grain worker processes.

  python -m vit_jax.benchmark_input [--data_dir DIR] [--worker_count 2] [--batch_size 64]

Reads the prepared 'shoe_sandal_boot' training split from --data_dir; without it, prepares
synthetic 136x102 JPEGs (the real images' size) as an image folder in a temporary directory.
Prints images per second after a warm-up that includes starting the workers.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vit_jax.input_pipeline import create_loader
from vit_jax.prepare_data import prepare


def synthetic_dataset(*, directory: Path, images_per_class: int = 200) -> str:
    """Prepares random 136x102 JPEGs in 3 classes under `directory`; returns the dataset name."""
    rng = np.random.default_rng(0)
    for label in ("boot", "sandal", "shoe"):
        (directory / "source" / label).mkdir(parents=True)
        for index in range(images_per_class):
            pixels = rng.integers(0, 256, (102, 136, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(directory / "source" / label / f"{index}.jpg")
    prepare(
        dataset="image_folder",
        source_dir=directory / "source",
        data_dir=directory,
        name="synthetic",
    )
    return "image_folder:synthetic"


def images_per_second(
    *, dataset: str, data_dir: str, worker_count: int, batch_size: int, num_batches: int
) -> float:
    loader = create_loader(
        dataset=dataset,
        data_dir=data_dir,
        split="train",
        batch_size=batch_size,
        image_size=(224, 224),
        preprocessing={"value_range": [-1, 1], "resize_method": "bilinear"},
        train=True,
        seed=0,
        num_epochs=None,
        worker_count=worker_count,
    )
    iterator = iter(loader)
    for _ in range(max(2, worker_count)):
        next(iterator)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(iterator)
    return num_batches * batch_size / (time.perf_counter() - start)


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
