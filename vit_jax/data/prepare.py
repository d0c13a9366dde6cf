"""Preparation of a dataset from a source folder into TFDS array_record files under data_dir,
with the builders of this package; the source folder is only read.

A preparation is built in a staging folder inside data_dir and moved into place only when it is
complete, so a failed or killed preparation (also with overwrite) leaves the previous version
loadable. Staging folders and retired versions left by killed preparations are cleaned up by
the next preparation in the same data_dir. An existing preparation is reused only while its
source folder is unchanged (paths, sizes and modification times of its files).
"""

import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.common.errors import full_disk_named
from vit_jax.data import PREPARED_DATASETS as DATASETS
from vit_jax.data.class_folder_builder import ClassFolderBuilder
from vit_jax.data.folder_scan import is_archive, open_source, source_fingerprint
from vit_jax.data.image_folder import ImageFolder
from vit_jax.data.shoe_sandal_boot import ShoeSandalBoot
from vit_jax.data.split_report import read_report

STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"


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


def _abandoned(path: Path, prefix: str) -> bool:
    """Whether the process named in a staging or retired folder's name ('<prefix><pid>-...')
    is gone."""
    pid = path.name.removeprefix(prefix).split("-", 1)[0]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_leftovers(*, data_dir: Path) -> list[Path]:
    """Removes the staging folders of preparations whose process is gone, and puts back a
    retired version whose replacement never arrived (killed between the two renames).
    Returns what was removed or restored."""
    handled = []
    if not data_dir.is_dir():
        return handled
    # A version folder is data_dir/<name>/<version> or data_dir/image_folder/<name>/<version>.
    retired = [*data_dir.glob(f"*/{RETIRED_PREFIX}*"), *data_dir.glob(f"*/*/{RETIRED_PREFIX}*")]
    for folder in retired:
        if not _abandoned(folder, RETIRED_PREFIX):
            continue
        target = folder.with_name(folder.name.split("-", 2)[2])
        if target.exists():
            shutil.rmtree(folder)
        else:
            folder.rename(target)
        handled.append(folder)
    for staging in data_dir.glob(f"{STAGING_PREFIX}*"):
        if _abandoned(staging, STAGING_PREFIX):
            shutil.rmtree(staging)
            handled.append(staging)
    return handled


def _swap_in(*, built: Path, final: Path) -> None:
    """Moves the complete preparation `built` to `final`, retiring the old version first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    retired = final.with_name(f"{RETIRED_PREFIX}{os.getpid()}-{final.name}")
    if final.exists():
        final.rename(retired)
    built.rename(final)
    if retired.exists():
        shutil.rmtree(retired)


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
    clean_leftovers(data_dir=data_dir)
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
    staging = data_dir / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    manual_dir = str(source.parent if is_archive(source) else source)
    try:
        with full_disk_named(data_dir):
            builder = _builder(**options, data_dir=staging)
            builder.download_and_prepare(
                download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
            )
            _swap_in(built=Path(builder.data_dir), final=final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(data_dir.iterdir()):
            data_dir.rmdir()
    return final, read_report(directory=final)
