"""Datasets: TFDS builders for class folders (shoe_sandal_boot.py, image_folder.py on
class_folder_builder.py, with folder_scan.py reading the images and split_report.py reporting
them), content-hash splits (splits.py), the embedded digits set (digits.py), preparation
(prepare.py), pixel preprocessing (preprocessing.py) and the grain loaders (input_pipeline.py:
`get_info`, `create_loader`, docs/ARCHITECTURE.md contract 3).

May import: common.
Imported by: training, inference, analysis, bench; and the commands.

What prepare_data's --help names lives here, free of TFDS: the datasets it makes and the file
listing the images it skipped.
"""

PREPARED_DATASETS = ("shoe_sandal_boot", "image_folder")
SKIPPED_FILE = "skipped_files.txt"
