"""TFDS builder `shoe_sandal_boot`: the Kaggle "Shoe vs Sandal vs Boot Dataset (15K Images)"."""

from vit_jax.data.class_folder_builder import ClassFolderBuilder
from vit_jax.data.folder_scan import Source

KAGGLE_FOLDER = "Shoe vs Sandal vs Boot Dataset"
CLASS_FOLDERS = ("Boot", "Sandal", "Shoe")
CLASS_NAMES = ("boot", "sandal", "shoe")


class ShoeSandalBoot(ClassFolderBuilder):
    """Shoe vs Sandal vs Boot (Kaggle, Hasib Al Muzdadid; UT Zappos50K pictures), 136x102 RGB."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download 'Shoe vs Sandal vs Boot Dataset (15K Images)' from Kaggle and pass the zip "
        f"archive, or the unzipped folder (containing '{KAGGLE_FOLDER}/' or directly "
        f"{'/, '.join(CLASS_FOLDERS)}/) as manual_dir, e.g. python -m vit_jax.prepare_data "
        "--dataset shoe_sandal_boot --source_dir PATH --data_dir DIR"
    )

    def class_names(self) -> list[str]:
        return list(CLASS_NAMES)

    def source_folders(self, manual_dir: Source) -> tuple[Source, list[str]]:
        root = manual_dir
        if (root / KAGGLE_FOLDER).is_dir():
            root = root / KAGGLE_FOLDER
        return root, list(CLASS_FOLDERS)
