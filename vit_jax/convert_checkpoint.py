"""Convert a published checkpoint into a vit_jax checkpoint (Orbax variables + metadata.json).

    python -m vit_jax.convert_checkpoint --input PATH|NAME|hf://ORG/NAME|URL [--model NAME]
        --output DIR [--num_classes N | --keep_head] [--image_size H[,W]] [--format F]
        [--overwrite]

--input is a local file or folder, a checkpoint name (vit_jax/checkpoints/named.py, README's
table: it implies --model and whether the head is kept), hf://ORG/NAME[@REVISION] (the Hugging
Face hub) or an https://, http:// or gs:// address (downloaded once into $VIT_JAX_CACHE).

Formats (detected from the file's bytes and key names; --format reads a file detection cannot
place): vit_npz (original ViT / R50+ViT .npz), bit_npz (BiT .npz), hf_vit (Hugging Face ViT
folder, sharded or not, or weight file beside its config.json), hf_resnet (Hugging Face ResNet),
torchvision_resnet (torchvision .pth; timm ResNet hub folders), torchvision_vit (torchvision
ViT .pth), timm_vit and timm_bit (timm ViT and BiT state dicts and hub folders), big_vision
(big_vision ViT .npz). --model may be left out where the checkpoint's config says which model it is
(Hugging Face and timm folders, including this project's own Hugging Face exports).
Without --keep_head the head is replaced by a zero-initialised one for --num_classes classes
and the pre-logits layer dropped (paper section 3.2); --image_size resizes the position embedding.
"""

import argparse
import sys
from pathlib import Path

from vit_jax.checkpoints.formats.detect import FORMATS
from vit_jax.checkpoints.named import NAMED, convert_input
from vit_jax.common.errors import run_command
from vit_jax.common.help import HelpFormatter, positive_int
from vit_jax.models import MODEL_NAMES

EXAMPLES = """examples:
  python -m vit_jax.convert_checkpoint --input vit-b16-in1k --output checkpoints/ViT-B_16_in1k
  python -m vit_jax.convert_checkpoint --input ViT-B_16.npz --model ViT-B_16 \\
      --output checkpoints/ViT-B_16 --num_classes 3
"""


def parse_image_size(text: str) -> tuple[int, int]:
    """'384' -> (384, 384); '384,512' -> (384, 512)."""
    try:
        sides = [int(side) for side in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or H,W") from e
    if len(sides) not in (1, 2) or min(sides) <= 0:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or H,W (positive)")
    return (sides[0], sides[-1])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.convert_checkpoint",
        description=__doc__.split("\n\n")[0],
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, help="file, HF folder, name (" + ", ".join(NAMED) + "), URL"
    )
    parser.add_argument("--model", choices=MODEL_NAMES, metavar="NAME", help=", ".join(MODEL_NAMES))
    parser.add_argument("--output", required=True, type=Path, help="checkpoint directory")
    parser.add_argument("--num_classes", type=positive_int, help="classes of the new zero head")
    parser.add_argument("--image_size", type=parse_image_size, help="H or H,W in pixels")
    parser.add_argument("--keep_head", action="store_true", help="keep the original head")
    parser.add_argument("--format", choices=FORMATS, help="skip detection")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with one line on bad input)."""
    args = build_parser().parse_args(argv)
    return run_command(
        "convert_checkpoint",
        lambda: convert_input(
            input=args.input,
            model=args.model,
            output=args.output,
            num_classes=args.num_classes,
            image_size=args.image_size,
            keep_head=args.keep_head,
            format=args.format,
            overwrite=args.overwrite,
        ),
        debug=args.debug,
    )


if __name__ == "__main__":
    sys.exit(main())
