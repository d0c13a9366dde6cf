r"""Few-shot linear evaluation of a checkpoint's frozen representation (paper, section 4.1).

    python -m vit_jax.fewshot --checkpoint runs/vit_ft/export/final --dataset shoe_sandal_boot \
        --data_dir data
    python -m vit_jax.fewshot --checkpoint exported/vit --dataset digits --shots 1,5 --seeds 3

k images per class from the training split, a closed-form regularised least-squares map onto
{-1, 1}^K targets, accuracy on the test split; mean and spread over seeds. Features are
extracted once per checkpoint and dataset and cached ($VIT_JAX_CACHE, default ~/.cache/vit_jax).
"""

import argparse
import json
import sys
from pathlib import Path

from vit_jax.analysis import DEFAULT_L2, DEFAULT_SHOTS
from vit_jax.common import files, runtime
from vit_jax.common.errors import run_command
from vit_jax.common.help import (
    HelpFormatter,
    add_checkpoint_arguments,
    examples,
    positive_int,
)


def shot_list(text: str) -> tuple[int, ...]:
    try:
        shots = tuple(int(v) for v in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--shots {text!r} is not a list like 1,5,10") from error
    if not shots or min(shots) < 1:
        raise argparse.ArgumentTypeError(f"--shots {text!r} must be positive whole numbers")
    return shots


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from error
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.fewshot",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    add_checkpoint_arguments(parser)
    parser.add_argument(
        "--dataset", required=True, help="digits, shoe_sandal_boot or image_folder:NAME"
    )
    parser.add_argument("--data_dir", help="where --dataset was prepared (not for digits)")
    parser.add_argument(
        "--shots", type=shot_list, default=DEFAULT_SHOTS, help="k values, e.g. 1,5,10,25"
    )
    parser.add_argument("--seeds", type=positive_int, default=5, help="draws of the k images")
    parser.add_argument("--l2", type=positive_float, default=DEFAULT_L2, help="L2 strength")
    parser.add_argument(
        "--batch_size", type=positive_int, default=64, help="images per feature batch"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="folder for fewshot.json and fewshot.md (without it: the table on the console only)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        from vit_jax.analysis import fewshot
        from vit_jax.data import input_pipeline
        from vit_jax.inference.classifier import resolve_checkpoint
        from vit_jax.reporting.markdown import fewshot_table

        checkpoint = resolve_checkpoint(args.checkpoint, model=args.model)
        splits = fewshot.extract(
            checkpoint=checkpoint,
            dataset=args.dataset,
            data_dir=args.data_dir,
            splits=("train", "test"),
            batch_size=args.batch_size,
        )
        info = input_pipeline.get_info(dataset=args.dataset, data_dir=args.data_dir)
        num_classes = info.num_classes
        results = fewshot.fewshot_accuracies(
            train=splits["train"],
            test=splits["test"],
            num_classes=num_classes,
            shots=args.shots,
            seeds=args.seeds,
            l2=args.l2,
        )
        dim = splits["train"][0].shape[1]
        title = (
            f"few-shot linear evaluation of {args.checkpoint} on {args.dataset}: test split, "
            f"{len(splits['test'][1])} images, {dim} features, L2 {args.l2:g}"
        )
        summary = fewshot.summarise(results=results, shots=args.shots)
        print(title)
        print(fewshot_table(summary), end="")
        if args.output:
            report = {
                "checkpoint": str(args.checkpoint),
                "dataset": args.dataset,
                "test_images": len(splits["test"][1]),
                "features": dim,
                "l2": args.l2,
                "seeds": args.seeds,
                "fewshot": summary,
            }
            args.output.mkdir(parents=True, exist_ok=True)
            files.write_text(args.output / "fewshot.json", json.dumps(report, indent=2) + "\n")
            markdown = f"# Few-shot linear evaluation\n\n{title}.\n\n{fewshot_table(summary)}"
            files.write_text(args.output / "fewshot.md", markdown)
            print(f"wrote fewshot.json and fewshot.md to {args.output}")

    return run_command("fewshot", body, debug=args.debug)


if __name__ == "__main__":
    runtime.apply()  # XLA and allocator settings, as main.py and the benchmark use
    sys.exit(main())
