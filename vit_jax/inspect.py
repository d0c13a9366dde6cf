r"""Inspect a ViT checkpoint (paper section 4.5): attention rollout on images (Figure 6), and the
patch-embedding filters, position embedding similarity and mean attention distance (Figure 7).

    python -m vit_jax.inspect --checkpoint runs/vit_ft/export/final --images shoes/ \
        --output runs/vit_ft/inspect
    python -m vit_jax.inspect --checkpoint exported/vit --images a.jpg b.png \
        --output inspect_vit --rollout_images 2

Writes figure6_rollout.png, figure7_filters.png, figure7_position_similarity.png,
figure7_attention_distance.png and inspect.md into --output. Images are files, folders or globs;
unreadable ones are listed and the rest still used (exit status 1 if any failed).
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
        prog="python -m vit_jax.inspect",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    add_checkpoint_arguments(parser, what="ViT checkpoint")
    parser.add_argument("--images", nargs="+", required=True, metavar="PATH", help="files, folders")
    parser.add_argument("--output", type=Path, required=True, help="folder for the figures")
    parser.add_argument("--rollout_images", type=positive_int, default=8, help="in Figure 6")
    parser.add_argument("--components", type=positive_int, default=28, help="filter components")
    parser.add_argument("--batch_size", type=positive_int, default=16, help="images per batch")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    failures: list[str] = []

    def body() -> None:
        from vit_jax.analysis.inspection import inspect_checkpoint
        from vit_jax.inference import image_files
        from vit_jax.inference.classifier import resolve_checkpoint

        paths, unmatched = image_files.gather(args.images)
        failures.extend(f"{argument}: no such file, folder or match" for argument in unmatched)
        if not paths:
            raise ValueError(f"--images {' '.join(args.images)} names no image file")
        written, failed = inspect_checkpoint(
            checkpoint=resolve_checkpoint(args.checkpoint, model=args.model),
            paths=paths,
            output=args.output,
            batch_size=args.batch_size,
            rollout_images=args.rollout_images,
            components=args.components,
        )
        failures.extend(f"{path}: {reason}" for path, reason in failed)
        print(f"wrote {', '.join(path.name for path in written)} to {args.output}")

    status = run_command("inspect", body, debug=args.debug)
    return report_unreadable("inspect", failures, status=status)


if __name__ == "__main__":
    runtime.apply()  # XLA and allocator settings, as main.py and the benchmark use
    sys.exit(main())
