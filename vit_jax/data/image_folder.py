"""TFDS builder `image_folder/<name>`: any directory with one sub-folder of images per class.

Class names are the sub-folder names, sorted; labels are their positions. Each prepared
folder is a builder config named by the user, so several can live in one data_dir and are
read back as `tfds.data_source("image_folder/<name>", ...)` without this code.
"""

import re
from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.data.class_folder_builder import ClassFolderBuilder
from vit_jax.data.folder_scan import Source, find_class_folders, open_source

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


class ImageFolder(ClassFolderBuilder):
    """Images from a class-per-folder directory (one sub-folder of images per class)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = "The folder of class sub-folders, given as --source_dir."

    def __init__(self, *, name: str, source_dir: str | Path, **kwargs):
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"Invalid dataset name {name!r}: use lower-case letters, digits and '_', "
                "starting with a letter."
            )
        self._class_folders = find_class_folders(root=open_source(Path(source_dir)))
        super().__init__(config=tfds.core.BuilderConfig(name=name), source_dir=source_dir, **kwargs)

    def class_names(self) -> list[str]:
        return self._class_folders

    def source_folders(self, manual_dir: Source) -> tuple[Source, list[str]]:
        return manual_dir, self._class_folders
