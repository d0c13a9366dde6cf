r"""Prepares a dataset as TFDS array_record files; prints split counts and duplicate groups.

  python -m vit_jax.prepare_data --dataset shoe_sandal_boot --source_dir archive.zip --data_dir data
  python -m vit_jax.prepare_data --dataset image_folder --source_dir my_shoes --data_dir data

The prepared data is then read as dataset 'shoe_sandal_boot' or 'image_folder:NAME'.
The source folder (or zip archive, read without unpacking) is only read.
"""

import argparse
import sys
from pathlib import Path

from vit_jax.common.errors import run_command
from vit_jax.common.help import HelpFormatter, examples
from vit_jax.data import PREPARED_DATASETS, SKIPPED_FILE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.prepare_data",
        description=__doc__.splitlines()[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--dataset",
        required=True,
        choices=PREPARED_DATASETS,
        help="shoe_sandal_boot (the Kaggle archive) or image_folder (your class folders)",
    )
    parser.add_argument(
        "--source_dir", required=True, help="folder (or .zip) with one sub-folder per class"
    )
    parser.add_argument("--data_dir", required=True, help="where the prepared files are written")
    parser.add_argument("--name", help="image_folder only: dataset name (default: folder name)")
    parser.add_argument(
        "--skip_bad_images",
        action="store_true",
        help=f"skip unreadable files, listing them in {SKIPPED_FILE} in the prepared folder",
    )
    parser.add_argument("--overwrite", action="store_true", help="re-prepare if already there")
    parser.add_argument(
        "--evaluation_only",
        action="store_true",
        help="put every image in the test split (a set to evaluate a trained model on)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with one line on bad input)."""
    args = build_parser().parse_args(argv)
    return run_command("prepare_data", lambda: _prepare(args), debug=args.debug)


def _prepare(args: argparse.Namespace) -> None:
    from vit_jax.data.prepare import default_name, prepare  # TFDS
    from vit_jax.data.split_report import format_report

    directory, report = prepare(
        dataset=args.dataset,
        source_dir=args.source_dir,
        data_dir=args.data_dir,
        name=args.name,
        skip_bad_images=args.skip_bad_images,
        overwrite=args.overwrite,
        evaluation_only=args.evaluation_only,
    )
    dataset = args.dataset
    if dataset == "image_folder":
        dataset += f":{args.name or default_name(source_dir=Path(args.source_dir))}"
    print(f"Prepared {directory} from {report['source_dir']}")
    print(f"Use it as dataset={dataset!r}, data_dir={args.data_dir!r}.")
    print(format_report(report=report))


if __name__ == "__main__":
    sys.exit(main())
