"""Convert a published checkpoint into a vit_jax checkpoint (Orbax variables + metadata.json).

    python -m vit_jax.convert_checkpoint --input PATH --model NAME --output DIR
        [--num_classes N | --keep_head] [--image_size H[,W]] [--format F] [--overwrite]

Formats (detected from the file's bytes and key names; --format overrides): vit_npz (original
ViT / R50+ViT .npz), bit_npz (BiT .npz), hf_vit (Hugging Face ViT folder or weight file beside
its config.json), hf_resnet (Hugging Face ResNet), torchvision_resnet (torchvision .pth).
Without --keep_head the head is replaced by a zero-initialised one for --num_classes classes
and the pre-logits layer dropped (paper section 3.2); --image_size resizes the position embedding.
"""

import argparse
import hashlib
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flax import traverse_util

from vit_jax import checkpoint
from vit_jax.checkpoint_formats import bit_npz, hf_vit, torch_resnet, vit_npz
from vit_jax.checkpoint_formats.detect import FORMATS, OpenedCheckpoint, open_checkpoint
from vit_jax.checkpoint_formats.fit import check_fits, expected_shapes
from vit_jax.checkpoint_formats.source import ConversionError, SourceCheckpoint
from vit_jax.models import MODEL_NAMES

READERS: dict[str, Callable[..., SourceCheckpoint]] = {
    "vit_npz": vit_npz.read,
    "bit_npz": bit_npz.read,
    "hf_vit": hf_vit.read,
    "hf_resnet": torch_resnet.read,
    "torchvision_resnet": torch_resnet.read,
}
# Resolution recorded for CNN checkpoints, whose weights do not fix one (ImageNet training size).
DEFAULT_CNN_IMAGE_SIZE = (224, 224)
HEAD = ("params/head/kernel", "params/head/bias")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def source_image_size(*, source: SourceCheckpoint, model: str) -> tuple[int, int]:
    """The training resolution of the source: stated by the file, else read off a square
    position-embedding grid, else (CNNs) DEFAULT_CNN_IMAGE_SIZE."""
    if source.image_size is not None:
        return source.image_size
    cell = checkpoint.grid_cell(model=model, overrides=source.model_overrides)
    pos_embedding = source.variables.get("params/" + "/".join(checkpoint.POS_EMBEDDING))
    if cell is None or pos_embedding is None:
        return DEFAULT_CNN_IMAGE_SIZE
    side = math.isqrt(pos_embedding.shape[1] - 1)
    if side * side != pos_embedding.shape[1] - 1:
        raise ConversionError(
            f"{source.weights_file}: the position embedding has {pos_embedding.shape[1] - 1} "
            "patch rows, not a square grid, so its image size is unknown"
        )
    return side * cell, side * cell


def convert(
    *,
    input: Path,
    model: str,
    output: Path,
    num_classes: int | None = None,
    image_size: tuple[int, int] | None = None,
    keep_head: bool = False,
    format: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Converts `input` for `model` and writes the checkpoint to `output`; returns its metadata."""
    if model not in MODEL_NAMES:
        raise ConversionError(f"unknown model {model!r}; valid names: {', '.join(MODEL_NAMES)}")
    if not keep_head and num_classes is None:
        raise ConversionError("give --num_classes N (new zero-initialised head) or --keep_head")
    checkpoint.check_output_directory(directory=Path(output), overwrite=overwrite)
    opened: OpenedCheckpoint = open_checkpoint(path=Path(input), format=format)
    source = READERS[opened.format](opened=opened)
    file, head = source.weights_file, source.variables.get(HEAD[0])
    file_classes = None if head is None else int(head.shape[-1])
    if keep_head and file_classes is None:
        raise ConversionError(f"{file} has no classification head to keep; give --num_classes")
    if keep_head and num_classes not in (None, file_classes):
        raise ConversionError(
            f"{file} has a {file_classes}-class head; --keep_head cannot give {num_classes}"
        )
    size = source_image_size(source=source, model=model)
    expected = expected_shapes(
        model=model,
        num_classes=file_classes or 1,
        image_size=size,
        overrides=source.model_overrides,
    )
    check_fits(
        variables=source.variables,
        expected=expected,
        source_names=source.source_names,
        file=file,
        model=model,
        may_lack=frozenset(HEAD if head is None else ()),
    )
    metadata = {
        "model": model,
        "source_format": source.format,
        "source_file": str(file.absolute()),
        "sha256": sha256_of(file),
        "image_size": list(size),
        "num_classes": file_classes,
        "head_kept": True,
        "label_names": source.label_names,
        "preprocessing": source.preprocessing,
        "model_overrides": source.model_overrides,
    }
    headless = head is None and "params/pre_logits/kernel" not in source.variables
    variables, metadata = checkpoint.adapt(
        variables=traverse_util.unflatten_dict(source.variables, sep="/"),
        metadata=metadata,
        num_classes=None if keep_head else num_classes,
        image_size=image_size,
        head_in_features=expected[HEAD[0]][0] if headless else None,
    )
    if keep_head and not np.any(head):
        print(f"warning: the head in {file} is all zeros (as released for ImageNet-21k ViT)")
    num_arrays = len(source.variables)
    source.variables.clear()
    checkpoint.save(
        directory=Path(output),
        variables=checkpoint.hand_over_to_jax(variables),
        metadata=metadata,
        overwrite=overwrite,
    )
    print(
        f"converted {file} ({source.format}, {num_arrays} arrays) for {model} "
        f"at {metadata['image_size'][0]}x{metadata['image_size'][1]}, "
        f"{'kept' if keep_head else 'new zero'} {metadata['num_classes']}-class head -> {output}"
    )
    return metadata


def parse_image_size(text: str) -> tuple[int, int]:
    """'384' -> (384, 384); '384,512' -> (384, 512)."""
    try:
        sides = [int(side) for side in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or H,W") from e
    if len(sides) not in (1, 2) or min(sides) <= 0:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or H,W (positive)")
    return (sides[0], sides[-1])


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vit_jax.convert_checkpoint",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--input", required=True, type=Path, help="checkpoint file or HF folder")
    parser.add_argument("--model", required=True, choices=MODEL_NAMES, metavar="NAME")
    parser.add_argument("--output", required=True, type=Path, help="checkpoint directory")
    parser.add_argument("--num_classes", type=positive_int, help="classes of the new zero head")
    parser.add_argument("--image_size", type=parse_image_size, help="H or H,W in pixels")
    parser.add_argument("--keep_head", action="store_true", help="keep the original head")
    parser.add_argument("--format", choices=FORMATS, help="skip detection")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (1 with a message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        convert(
            input=args.input,
            model=args.model,
            output=args.output,
            num_classes=args.num_classes,
            image_size=args.image_size,
            keep_head=args.keep_head,
            format=args.format,
            overwrite=args.overwrite,
        )
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
