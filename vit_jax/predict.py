r"""Classify image files with a converted or exported checkpoint.

    python -m vit_jax.predict --checkpoint runs/vit_ft/export/final photo.jpg shoes/ "more/*.png"
    python -m vit_jax.predict --checkpoint exported/vit --top_k 3 --output predictions.csv shoes/

Prints each file with its top-k classes and probabilities; --output writes CSV (path, label,
probability, then label_2, probability_2, ...) or JSON lines. Unreadable files are listed and the
rest still predicted; the exit status is 1 when any file failed.
"""

import argparse
import sys
from pathlib import Path

from vit_jax.common import runtime
from vit_jax.common.errors import report_unreadable, run_command
from vit_jax.common.help import (
    HelpFormatter,
    add_checkpoint_arguments,
    examples,
    positive_int,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.predict",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or globs")
    add_checkpoint_arguments(parser)
    parser.add_argument("--top_k", type=positive_int, default=1, help="classes per file")
    parser.add_argument("--batch_size", type=positive_int, default=32, help="images per batch")
    parser.add_argument("--output", type=Path, help="FILE.csv or FILE.jsonl")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    failures: list[str] = []

    def body() -> None:
        from vit_jax.inference import image_files
        from vit_jax.inference.classifier import Classifier
        from vit_jax.inference.predict import console_line, predict_files, write_rows

        if args.output and args.output.suffix not in (".csv", ".jsonl"):
            raise ValueError(f"--output {args.output} must end in .csv or .jsonl")
        paths, unmatched = image_files.gather(args.paths)
        failures.extend(f"{argument}: no such file, folder or match" for argument in unmatched)
        predictor = Classifier.load(args.checkpoint, model=args.model, batch_size=args.batch_size)
        top_k = min(args.top_k, len(predictor.class_names))
        rows, failed = predict_files(predictor=predictor, paths=paths, top_k=top_k)
        for row in rows:
            print(console_line(row))
        failures.extend(f"{path}: {reason}" for path, reason in failed)
        if args.output:
            write_rows(rows=rows, output=args.output, top_k=top_k)
            print(f"wrote {len(rows)} predictions to {args.output}")

    status = run_command("predict", body, debug=args.debug)
    return report_unreadable("predict", failures, status=status)


if __name__ == "__main__":
    runtime.apply()  # XLA and allocator settings, as main.py and the benchmark use
    sys.exit(main())
