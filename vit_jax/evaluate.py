r"""Evaluate a converted or exported checkpoint on a prepared dataset or a folder of images.

    python -m vit_jax.evaluate --checkpoint runs/vit_ft/export/final --dataset shoe_sandal_boot \
        --data_dir data --split test --output runs/vit_ft/evaluation
    python -m vit_jax.evaluate --checkpoint exported/vit --images new_shoes/ --output eval_new

--images takes a folder with one sub-folder per class (names matched to the checkpoint's
classes, ignoring case). Writes evaluation.json (accuracy, macro F1, per-class scores, confusion
matrix, loss), evaluation.md and confusion_matrix.png into --output.
"""

import argparse
import sys
from pathlib import Path

from vit_jax.common import runtime
from vit_jax.common.errors import run_command
from vit_jax.common.help import HelpFormatter, add_checkpoint_arguments, examples
from vit_jax.data.splits import SPLITS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.evaluate",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    add_checkpoint_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="digits, shoe_sandal_boot or image_folder:NAME")
    source.add_argument("--images", type=Path, help="folder with one sub-folder per class")
    parser.add_argument("--data_dir", help="where --dataset was prepared")
    parser.add_argument("--split", default="test", choices=SPLITS, help="split of --dataset")
    parser.add_argument("--output", required=True, type=Path, help="folder for the report")
    parser.add_argument("--batch_size", type=int, default=64, help="images per batch")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        from vit_jax.inference.classifier import Classifier
        from vit_jax.inference.evaluation import evaluate, write_report

        if args.batch_size < 1:
            raise ValueError(f"--batch_size {args.batch_size} must be >= 1")
        predictor = Classifier.load(args.checkpoint, model=args.model, batch_size=args.batch_size)
        metrics = evaluate(
            predictor=predictor,
            dataset=args.dataset,
            data_dir=args.data_dir,
            split="test" if args.images else args.split,
            images=args.images,
        )
        source = {
            "checkpoint": str(args.checkpoint),
            "model": predictor.metadata["model"],
            "dataset": args.dataset,
            "images": str(args.images) if args.images else None,
            "split": "test" if args.images else args.split,
        }
        write_report(output=args.output, metrics=metrics, source=source)
        print(
            f"{source['model']}: accuracy {100 * metrics['accuracy']:.2f}%, F1 macro "
            f"{100 * metrics['f1_macro']:.2f}% on {sum(map(sum, metrics['confusion_matrix']))} "
            f"images; report: {args.output / 'evaluation.md'}"
        )

    return run_command("evaluate", body, debug=args.debug)


if __name__ == "__main__":
    runtime.apply()  # XLA and allocator settings, as main.py and the benchmark use
    sys.exit(main())
