"""Checkpoints by name: the published checkpoints the study and the paper use (the table of
published.py, as big_vision names its checkpoints), and `local_checkpoint`, which turns a name,
an `hf://` or a URL into a converted checkpoint in $VIT_JAX_CACHE/converted, downloading and
converting it once. The table lists no SHA-256 sums: a download is verified against the size the
server announces, and the SHA-256 of the file converted is recorded in the converted
checkpoint's metadata (`sha256`, beside `source_address`).
"""

import contextlib
import hashlib
import re
from pathlib import Path

import jax
from filelock import FileLock

from vit_jax.checkpoints import hub, remote
from vit_jax.checkpoints.converted import METADATA_FILE
from vit_jax.checkpoints.published import NAMED, NamedCheckpoint
from vit_jax.common.cache import cache_dir


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
