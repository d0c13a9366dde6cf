"""Preparation of a dataset from a source folder into TFDS array_record files under data_dir,
with the builders of this package; the source folder is only read.

A preparation is built in a staging folder beside its version folder and swapped in only when it
is complete (vit_jax.common.staged_folder), so a failed or killed preparation (also with
overwrite) leaves the previous version loadable; the next preparation of the same dataset cleans
up what a killed one left. An existing preparation is reused only while its source folder is
unchanged (paths, sizes and modification times of its files).
"""

import re
import shutil
import tempfile
from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.common.errors import full_disk_named
from vit_jax.common.staged_folder import staged_folder
from vit_jax.data import PREPARED_DATASETS as DATASETS
from vit_jax.data import SKIPPED_FILE
from vit_jax.data.class_folder_builder import ClassFolderBuilder
from vit_jax.data.folder_scan import is_archive, open_source, source_fingerprint
from vit_jax.data.image_folder import ImageFolder
from vit_jax.data.shoe_sandal_boot import ShoeSandalBoot
from vit_jax.data.split_report import read_report


def default_name(*, source_dir: Path) -> str:
    """A valid image_folder name from the folder's name: 'My Shoes 2' -> 'my_shoes_2'."""
    folder = source_dir.resolve()
    folder_name = folder.stem if is_archive(folder) else folder.name
    name = re.sub(r"[^a-z0-9]+", "_", folder_name.lower()).strip("_")
    return name if name[:1].isalpha() else f"folder_{name}"


def _builder(
    *,
    dataset: str,
    source: Path,
    data_dir: Path,
    name: str | None,
    skip_bad_images: bool,
    evaluation_only: bool,
) -> ClassFolderBuilder:
    options = dict(skip_bad_images=skip_bad_images, evaluation_only=evaluation_only)
    if dataset == "shoe_sandal_boot":
        if name is not None:
            raise ValueError("--name is only for --dataset image_folder.")
        return ShoeSandalBoot(data_dir=str(data_dir), source_dir=source, **options)
    if dataset == "image_folder":
        return ImageFolder(
            name=name or default_name(source_dir=source),
            source_dir=source,
            data_dir=str(data_dir),
            **options,
        )
    raise ValueError(f"Unknown dataset {dataset!r}; choose one of {DATASETS}.")


def _prepared_file(name: str) -> bool:
    """Whether `name` is a file TFDS or this package writes into a prepared version folder."""
    written = {"dataset_info.json", "features.json", "split_report.json", SKIPPED_FILE}
    return name in written or ".array_record-" in name or name.endswith(".labels.txt")


def _remove_empty_folders(*, start: Path, stop: Path) -> None:
    """Removes `start` and its parents up to and including `stop` while they are empty."""
    for folder in [start, *start.parents]:
        if not folder.is_dir() or any(folder.iterdir()):
            return
        folder.rmdir()
        if folder == stop:
            return


def _final_builder(
    *, options: dict, data_dir: Path, overwrite: bool
) -> tuple[ClassFolderBuilder | None, Path]:
    """The builder of the prepared dataset in `data_dir` and its folder. TFDS reads an existing
    preparation's dataset_info.json when the builder is made; if that file is damaged, the
    folder is found from a builder on an empty folder, and only --overwrite may replace it."""
    try:
        builder = _builder(**options, data_dir=data_dir)
        return builder, Path(builder.data_dir)
    except Exception as error:  # TFDS raises protobuf's ParseError, among others
        with tempfile.TemporaryDirectory() as scratch:
            final = data_dir / Path(_builder(**options, data_dir=scratch).data_dir).relative_to(
                scratch
            )
        if not (final / "dataset_info.json").is_file():
            raise
        if not overwrite:
            raise ValueError(
                f"{final / 'dataset_info.json'} is damaged ({type(error).__name__}); prepare the "
                "dataset again with --overwrite"
            ) from error
        return None, final


def prepare(
    *,
    dataset: str,
    source_dir: str | Path,
    data_dir: str | Path,
    name: str | None = None,
    skip_bad_images: bool = False,
    overwrite: bool = False,
    evaluation_only: bool = False,
) -> tuple[Path, dict]:
    """Prepares `dataset` from `source_dir` under `data_dir`; returns (prepared folder, report).
    With `evaluation_only` every image goes to the test split (a set to evaluate a model on).

    Without `overwrite`, an existing preparation from the same, unchanged source is reused and
    one from a changed source is refused (ValueError saying to pass overwrite)."""
    source, data_dir = Path(source_dir), Path(data_dir)
    if not (source.is_dir() or is_archive(source)):
        raise FileNotFoundError(f"Source folder not found (or not a folder or zip file): {source}")
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"--data_dir {data_dir} is a file, not a folder")
    options = dict(
        dataset=dataset,
        source=source,
        name=name,
        skip_bad_images=skip_bad_images,
        evaluation_only=evaluation_only,
    )
    final_builder, final = _final_builder(options=options, data_dir=data_dir, overwrite=overwrite)
    if (final / "dataset_info.json").is_file() and not overwrite:
        report = read_report(directory=final)
        if report.get("evaluation_only", False) != evaluation_only:
            kind = "for evaluation only" if report.get("evaluation_only") else "with train splits"
            raise ValueError(f"{final} was prepared {kind}; prepare it again with --overwrite")
        root, class_folders = final_builder.source_folders(open_source(source))
        if report.get("source_fingerprint") != source_fingerprint(
            root=root, class_folders=class_folders
        ):
            raise ValueError(
                f"{source} has changed since {final} was prepared from it (files added, removed "
                "or rewritten); prepare it again with --overwrite"
            )
        return final, report
    created = not data_dir.exists()
    manual_dir = str(source.parent if is_archive(source) else source)
    try:
        with staged_folder(
            final, owned=_prepared_file, kind="prepared dataset", overwrite=True
        ) as staging:
            builder = _builder(**options, data_dir=staging / "tfds")
            with full_disk_named(data_dir):  # the error names --data_dir
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
                )
            for entry in Path(builder.data_dir).iterdir():
                entry.rename(staging / entry.name)
            shutil.rmtree(staging / "tfds")
    finally:
        if created:
            _remove_empty_folders(start=final.parent, stop=data_dir)
    return final, read_report(directory=final)
