"""Checkpoints by name: the published checkpoints the study and the paper use (one table, as
big_vision names its checkpoints), and `local_checkpoint`, which turns a name, an `hf://` or a
URL into a converted checkpoint in $VIT_JAX_CACHE/converted, downloading and converting it once.

Where each lives is a fact of the publishers (the original vit_jax and BiT buckets, the Hugging
Face hub). Their SHA-256 sums are not listed, as they could not be checked here: a download is
verified against the size the server announces, and the SHA-256 of the file converted is recorded
in the converted checkpoint's metadata (`sha256`, beside `source_address`).
"""

import contextlib
import dataclasses
import hashlib
import re
from pathlib import Path

import jax
from filelock import FileLock

from vit_jax.checkpoints import hub, remote
from vit_jax.checkpoints.converted import METADATA_FILE
from vit_jax.common.cache import cache_dir


@dataclasses.dataclass(frozen=True)
class NamedCheckpoint:
    source: str  # hf://ORG/NAME, https://... or gs://...
    model: str  # a vit_jax.models.MODEL_NAMES name
    keep_head: bool  # False: the head is all zeros (ImageNet-21k releases) and is replaced
    about: str
    sha256: str | None = None
    size: int | None = None


_BUCKET = "gs://vit_models"
_AUGREG = f"{_BUCKET}/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0"
NAMED: dict[str, NamedCheckpoint] = {
    "vit-b16-in21k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k/ViT-B_16.npz",
        "ViT-B_16",
        False,
        "ViT-B/16 pre-trained on ImageNet-21k (original .npz, with pre-logits), 224x224",
    ),
    "vit-b16-in21k-in1k-384": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k+imagenet2012/ViT-B_16.npz",
        "ViT-B_16",
        True,
        "ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 384x384 (original .npz)",
    ),
    "vit-b16-in21k-in1k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k+imagenet2012/ViT-B_16-224.npz",
        "ViT-B_16",
        True,
        "ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 224x224 (original .npz)",
    ),
    "vit-b16-in1k": NamedCheckpoint(
        "hf://google/vit-base-patch16-224",
        "ViT-B_16",
        True,
        "ViT-B/16 with its ImageNet-1k head, Hugging Face (the study's ViT)",
    ),
    "resnet50-in1k": NamedCheckpoint(
        "hf://microsoft/resnet-50",
        "ResNet-50",
        True,
        "ResNet-50 with its ImageNet-1k head, Hugging Face (the study's ResNet-50)",
    ),
    "resnet152-in1k": NamedCheckpoint(
        "hf://microsoft/resnet-152",
        "ResNet-152",
        True,
        "ResNet-152 with its ImageNet-1k head, Hugging Face (the study's ResNet-152)",
    ),
    "bit-m-r50x1": NamedCheckpoint(
        "https://storage.googleapis.com/bit_models/BiT-M-R50x1.npz",
        "BiT-R50x1",
        False,
        "BiT-M ResNet-50x1 pre-trained on ImageNet-21k (the paper's BiT baseline)",
    ),
    # AugReg ("How to train your ViT", Steiner et al. 2021): the ViT-B/16 the original project
    # recommends, as its .npz files (straight resize to [-1, 1]) and as timm publishes them on
    # the hub (timm's evaluation: shorter edge to 248, bicubic, centre crop 224).
    "vit-b16-augreg-in21k": NamedCheckpoint(
        f"{_AUGREG}.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16 pre-trained on ImageNet-21k, its 21,843-class head (original .npz)",
    ),
    "vit-b16-augreg-in21k-in1k": NamedCheckpoint(
        f"{_AUGREG}--imagenet2012-steps_20k-lr_0.01-res_224.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 224x224 (original .npz)",
    ),
    "vit-b16-augreg-in21k-in1k-384": NamedCheckpoint(
        f"{_AUGREG}--imagenet2012-steps_20k-lr_0.01-res_384.npz",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then fine-tuned on ImageNet-1k at 384x384 (original .npz)",
    ),
    "vit-b16-augreg-in21k-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_224.augreg_in21k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16 pre-trained on ImageNet-21k, timm's hub folder and preprocessing",
    ),
    "vit-b16-augreg-in21k-in1k-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_224.augreg_in21k_ft_in1k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then ImageNet-1k at 224x224, timm's hub folder",
    ),
    "vit-b16-augreg-in21k-in1k-384-timm": NamedCheckpoint(
        "hf://timm/vit_base_patch16_384.augreg_in21k_ft_in1k",
        "ViT-B_16",
        True,
        "AugReg ViT-B/16, ImageNet-21k then ImageNet-1k at 384x384, timm's hub folder",
    ),
    "r50-vit-b16-in21k": NamedCheckpoint(
        f"{_BUCKET}/imagenet21k/R50+ViT-B_16.npz",
        "R50+ViT-B_16",
        False,
        "the R50+ViT-B/16 hybrid pre-trained on ImageNet-21k (original .npz)",
    ),
}


def is_named(spec: str) -> bool:
    return spec in NAMED or remote.is_remote(spec)


def named_model(spec: str) -> str | None:
    return NAMED[spec].model if spec in NAMED else None


def local_checkpoint(*, spec: str, model: str) -> Path:
    """A converted checkpoint for `spec`: the folder itself for a local path; for a name in NAMED,
    an hf:// or a URL, $VIT_JAX_CACHE/converted/<name>, made on first use (process 0 downloads and
    converts under a file lock; the other processes wait for it)."""
    if not is_named(spec):
        path = Path(spec)
        if not path.exists() or (path / METADATA_FILE).is_file():
            return path  # a converted checkpoint, or nothing (checkpoints.check_present says so)
        return _converted_local(path=path, model=model)
    entry = NAMED.get(spec) or NamedCheckpoint(spec, model, True, spec)
    if entry.model != model:
        raise ValueError(
            f"checkpoint {spec!r} is a {entry.model}, not a {model}; set the model to "
            f"{entry.model} or name another checkpoint"
        )
    slug = spec if spec in NAMED else _slug(spec)
    output = cache_dir("converted") / slug
    if jax.process_index() == 0:
        with FileLock(str(output.with_name(slug + ".lock"))):
            if not (output / METADATA_FILE).is_file():
                _convert(entry=entry, output=output)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"converted {slug}")
    return output


def _converted_local(*, path: Path, model: str) -> Path:
    """A downloaded checkpoint file or folder in any format convert_checkpoint reads, converted
    into $VIT_JAX_CACHE/converted once per file content (path, size and modification time: a
    changed file is converted again), its head kept; a release without a head gets a one-class
    zero head, which a run's head='new' replaces (as for the ImageNet-21k names in NAMED)."""
    from vit_jax.checkpoints.convert import convert
    from vit_jax.checkpoints.formats.source import NoHeadError

    path = path.resolve()
    files = sorted(path.rglob("*")) if path.is_dir() else [path]
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    digest = hashlib.sha256(repr(stamp).encode()).hexdigest()[:10]
    slug = f"{re.sub(r'[^A-Za-z0-9._-]+', '_', path.name)[-60:]}-{digest}"
    output = cache_dir("converted") / slug
    if jax.process_index() == 0:
        with FileLock(str(output.with_name(slug + ".lock"))):
            if not (output / METADATA_FILE).is_file():
                print(f"{path}: converting once into {output}")
                arguments = dict(input=path, model=model, output=output)
                try:
                    convert(**arguments, keep_head=True, overwrite=output.exists())
                except NoHeadError:
                    convert(**arguments, num_classes=1, overwrite=output.exists())
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"converted {slug}")
    return output


def _convert(*, entry: NamedCheckpoint, output: Path) -> None:
    from vit_jax.checkpoints.convert import convert

    source = _fetch(entry.source, sha256=entry.sha256, size=entry.size)
    print(f"{entry.source}: converting once into {output}")
    with remote.discarded_if_unusable(source, address=entry.source):
        convert(
            input=source,
            model=entry.model,
            output=output,
            num_classes=None if entry.keep_head else 1,
            keep_head=entry.keep_head,
            overwrite=output.exists(),
            source_address=entry.source,
        )


def _fetch(spec: str, *, sha256: str | None = None, size: int | None = None) -> Path:
    """The local path of `spec`: a hub snapshot folder for hf://, else the downloaded file."""
    if spec.startswith("hf://"):
        return hub.hub_folder(spec)
    return remote.download(spec, sha256=sha256, size=size)


def _slug(spec: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.split("://", 1)[1])[-60:]
    return f"{readable}-{hashlib.sha256(spec.encode()).hexdigest()[:10]}"


def table_markdown() -> str:
    """The README's table of names."""
    rows = [f"| `{name}` | {e.about} | `{e.source}` |" for name, e in NAMED.items()]
    return "\n".join(["| name | checkpoint | source |", "|---|---|---|", *rows]) + "\n"


def convert_input(
    *,
    input: str,
    model: str | None,
    output: Path,
    num_classes: int | None = None,
    image_size: tuple[int, int] | None = None,
    keep_head: bool = False,
    format: str | None = None,
    overwrite: bool = False,
) -> dict:
    """The convert_checkpoint command: `input` a local file or folder, a name in NAMED (its
    model, and its head kept unless --num_classes says otherwise), hf:// or a URL."""
    from vit_jax.checkpoints.convert import convert
    from vit_jax.checkpoints.formats.source import ConversionError

    entry = NAMED.get(input)
    if entry is not None:
        if model not in (None, entry.model):
            raise ConversionError(f"--input {input} is a {entry.model}, not --model {model}")
        model = entry.model
        keep_head = keep_head or (entry.keep_head and num_classes is None)
    address = entry.source if entry is not None else input if remote.is_remote(input) else None
    if address is None:
        local, downloaded = Path(input), contextlib.nullcontext()
    else:
        local = _fetch(address, sha256=entry and entry.sha256)
        downloaded = remote.discarded_if_unusable(local, address=address)
    with downloaded:
        return convert(
            input=local,
            model=model,
            output=output,
            num_classes=num_classes,
            image_size=image_size,
            keep_head=keep_head,
            format=format,
            overwrite=overwrite,
            source_address=address,
        )
