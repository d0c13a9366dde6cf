"""Preparation of a dataset from a source folder into TFDS array_record files under data_dir,
with the builders of this package; the source folder is only read.
"""

import re
from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.data.image_folder import ImageFolder
from vit_jax.data.shoe_sandal_boot import ShoeSandalBoot
from vit_jax.data.split_report import read_report

DATASETS = ("shoe_sandal_boot", "image_folder")


def default_name(*, source_dir: Path) -> str:
    """A valid image_folder name from the folder's name: 'My Shoes 2' -> 'my_shoes_2'."""
    name = re.sub(r"[^a-z0-9]+", "_", source_dir.resolve().name.lower()).strip("_")
    return name if name[:1].isalpha() else f"folder_{name}"


def prepare(
    *,
    dataset: str,
    source_dir: str | Path,
    data_dir: str | Path,
    name: str | None = None,
    skip_bad_images: bool = False,
    overwrite: bool = False,
) -> tuple[Path, dict]:
    """Prepares `dataset` from `source_dir` under `data_dir`; returns (prepared folder, report)."""
    source = Path(source_dir)
    if not source.is_dir():
        raise FileNotFoundError(f"Source folder not found (or not a directory): {source}")
    if dataset == "shoe_sandal_boot":
        if name is not None:
            raise ValueError("--name is only for --dataset image_folder.")
        builder = ShoeSandalBoot(data_dir=str(data_dir), skip_bad_images=skip_bad_images)
    elif dataset == "image_folder":
        builder = ImageFolder(
            name=name or default_name(source_dir=source),
            source_dir=source,
            data_dir=str(data_dir),
            skip_bad_images=skip_bad_images,
        )
    else:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {DATASETS}.")
    mode = tfds.download.GenerateMode
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(
            manual_dir=str(source),
            download_mode=mode.FORCE_REDOWNLOAD if overwrite else mode.REUSE_DATASET_IF_EXISTS,
        )
    )
    return Path(builder.data_dir), read_report(directory=Path(builder.data_dir))
