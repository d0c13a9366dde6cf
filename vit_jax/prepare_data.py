"""Prepares a dataset as TFDS array_record files; prints split counts and duplicate groups.

  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir PATH --data_dir DIR
  python -m vit_jax.prepare_data --dataset image_folder --source_dir PATH --data_dir DIR \
      [--name NAME] [--skip_bad_images]

The prepared data is then read as dataset 'shoe_sandal_boot' or 'image_folder:NAME'.
The source folder is only read.
"""

import argparse
import re
from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.datasets import ImageFolder, ShoeSandalBoot
from vit_jax.datasets.report import SKIPPED_FILE, format_report, read_report

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--source_dir", required=True, help="folder with one sub-folder per class")
    parser.add_argument("--data_dir", required=True, help="where the prepared files are written")
    parser.add_argument("--name", help="image_folder only: dataset name (default: folder name)")
    parser.add_argument(
        "--skip_bad_images",
        action="store_true",
        help=f"skip unreadable files, listing them in {SKIPPED_FILE} in the prepared folder",
    )
    parser.add_argument("--overwrite", action="store_true", help="re-prepare if already there")
    args = parser.parse_args(argv)
    directory, report = prepare(
        dataset=args.dataset,
        source_dir=args.source_dir,
        data_dir=args.data_dir,
        name=args.name,
        skip_bad_images=args.skip_bad_images,
        overwrite=args.overwrite,
    )
    dataset = args.dataset
    if dataset == "image_folder":
        dataset += f":{args.name or default_name(source_dir=Path(args.source_dir))}"
    print(f"Prepared {directory} from {report['source_dir']}")
    print(f"Use it as dataset={dataset!r}, data_dir={args.data_dir!r}.")
    print(format_report(report=report))


if __name__ == "__main__":
    main()
