"""Base TFDS builder: a class-per-folder image directory -> array_record train/validation/test.

Preparation needs no TensorFlow: examples are serialised by TFDS's own protos and written as
`array_record` files, read back with `tfds.data_source`. Features: `image` (encoded RGB
JPEG/PNG bytes, see folder_scan), `label` (ClassLabel), `file_name` (path relative to the
source folder). Splits follow vit_jax.data.splits (content hash, 70/15/15); the report
(split counts, duplicate groups, ignored and skipped files) is written into the prepared
dataset's folder.
"""

from pathlib import Path

import tensorflow_datasets as tfds

from vit_jax.data.folder_scan import (
    ImageFile,
    Source,
    open_source,
    rgb_bytes,
    scan_class_folders,
    unreadable_error,
)
from vit_jax.data.split_report import build_report, write_report
from vit_jax.data.splits import SPLITS, split_of


class ClassFolderBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Subclasses define `class_names()` and `source_folders(dl_manager)`."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Content-hash 70/15/15 splits."}

    def __init__(
        self,
        *,
        skip_bad_images: bool = False,
        evaluation_only: bool = False,
        source_dir: str | Path | None = None,
        **kwargs,
    ):
        # TFDS's manual_dir must be a folder; a zip archive is given here instead.
        self._source = None if source_dir is None else open_source(Path(source_dir))
        self._skip_bad_images = skip_bad_images
        self._evaluation_only = evaluation_only
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def class_names(self) -> list[str]:
        raise NotImplementedError

    def source_folders(self, manual_dir: Source) -> tuple[Source, list[str]]:
        """(root, class folder names in label order) of the directory to prepare from
        `manual_dir` (the --source_dir, opened with folder_scan.open_source)."""
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 3)),
                    "label": tfds.features.ClassLabel(names=self.class_names()),
                    "file_name": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        manual = self._source or open_source(Path(dl_manager.manual_dir))
        root, class_folders = self.source_folders(manual)
        scan = scan_class_folders(root=root, class_folders=class_folders)
        if scan.unreadable and not self._skip_bad_images:
            raise unreadable_error(unreadable=scan.unreadable)
        report = build_report(
            source_dir=root,
            class_names=self.class_names(),
            scan=scan,
            evaluation_only=self._evaluation_only,
        )
        write_report(
            directory=Path(self.data_path), report=report, skip_bad_images=self._skip_bad_images
        )
        if self._evaluation_only:  # every image is test data; no train or validation split
            return {"test": self._generate_examples(scan.images)}
        by_split = {split: [] for split in SPLITS}
        for image in scan.images:
            by_split[split_of(digest=image.digest)].append(image)
        empty = [split for split, images in by_split.items() if not images]
        if empty:
            counts = ", ".join(f"{split} {len(images)}" for split, images in by_split.items())
            raise ValueError(
                f"{root}: no image falls into the {' and '.join(empty)} split ({counts} images "
                "by content hash, 70/15/15); add images (a few dozen give every split some)"
            )
        return {split: self._generate_examples(imgs) for split, imgs in by_split.items()}

    def _generate_examples(self, images: list[ImageFile]):
        for image in images:
            example = {
                "image": rgb_bytes(image=image),
                "label": image.label,
                "file_name": image.name,
            }
            yield image.name, example
