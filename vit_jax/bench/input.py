"""Input-pipeline benchmark helpers: a synthetic image folder and the loader's images/s."""

import time
from pathlib import Path

import numpy as np
from PIL import Image

from vit_jax.data.input_pipeline import create_loader
from vit_jax.data.prepare import prepare


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
