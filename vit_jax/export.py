r"""Export a training run's model as a converted checkpoint (or a Hugging Face folder).

    python -m vit_jax.export --workdir runs/vit_ft --output exported/vit_ft
    python -m vit_jax.export --workdir runs/vit_ft --which best --format hf --output hf/vit_best

The export loads with vit_jax.checkpoints.load, feeds `python -m vit_jax.predict` and
`python -m vit_jax.evaluate`, and serves as --config.checkpoint_dir of a new run
(--config.head=keep keeps its head). Finished fine-tuning runs export themselves to
<workdir>/export/final and <workdir>/export/best.
"""

import argparse
import sys

from vit_jax.common.errors import run_command
from vit_jax.common.help import HelpFormatter, examples
from vit_jax.training import EXPORT_FORMATS, EXPORTS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.export",
        description=__doc__.split("\n\n")[0],
        epilog=examples(__doc__),
        formatter_class=HelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", help="the run's --workdir")
    source.add_argument("--checkpoint", help="a converted checkpoint (for --format hf)")
    parser.add_argument("--output", required=True, help="folder of the exported checkpoint")
    parser.add_argument(
        "--which", default="final", choices=EXPORTS, help="final (latest) or best on validation"
    )
    parser.add_argument(
        "--format",
        default="vit_jax",
        choices=EXPORT_FORMATS,
        help="converted checkpoint or Hugging Face",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> None:
        from vit_jax import checkpoints
        from vit_jax.training.export import run_model, write

        if args.checkpoint:
            loaded = checkpoints.load(directory=args.checkpoint)
            variables, metadata, source = loaded.variables, loaded.metadata, args.checkpoint
        else:
            variables, metadata = run_model(workdir=args.workdir, which=args.which)
            source = f"step {metadata['run']['step']} ({args.which}) of {args.workdir}"
        write(
            variables=variables,
            metadata=metadata,
            output=args.output,
            overwrite=args.overwrite,
            format=args.format,
        )
        print(
            f"exported {source}: {metadata['model']}, {metadata['num_classes']} classes -> "
            f"{args.output} ({args.format})"
        )

    return run_command("export", body, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
