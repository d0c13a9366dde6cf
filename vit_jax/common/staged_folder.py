"""A folder written whole: built in a staging folder beside its destination, then swapped in.

Every command that writes an output folder (a converted checkpoint, a Hugging Face export, a
prepared dataset) goes through `staged_folder`, which
- replaces an existing folder only when it is recognisably the project's own output of that kind:
  its entries are among the names that command writes (`owned`: a set of names, or a test of a
  name), so a folder that also holds a user's files is refused, naming one of them, and nothing
  is deleted;
- holds a file lock (filelock, in $VIT_JAX_CACHE/locks, named by the destination's absolute
  path, so the user's folders get no lock files) from the check to the swap, and checks again
  just before the swap, so two writers never replace each other silently: the second
  finds the first's output and refuses unless told to overwrite;
- removes staging folders that killed commands left beside the destination (under the lock, so
  none in use is touched), and puts back an old version set aside by a swap that was killed;
- on any failure removes its staging folder and leaves the destination as it was; a full disk
  is reported as OSError(ENOSPC) naming the destination.
Written by hand: no library offers an atomic replace of a whole folder with these checks.
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock

from vit_jax.common.cache import cache_dir
from vit_jax.common.errors import full_disk_named

STAGING_MARK = ".partial-"
Owned = frozenset[str] | Callable[[str], bool]


def _describe_foreign(directory: Path, owned: Owned) -> str | None:
    """One entry of `directory` that is not among `owned`, or None when all are."""
    is_owned = owned if callable(owned) else owned.__contains__
    foreign = sorted(entry.name for entry in directory.iterdir() if not is_owned(entry.name))
    return foreign[0] if foreign else None


def check_replaceable(directory: Path, *, owned: Owned, kind: str, overwrite: bool) -> None:
    """FileExistsError unless `directory` is absent, empty, or (with `overwrite`) holds only
    entries named in `owned` (a `kind` this project wrote)."""
    if not directory.exists() and not directory.is_symlink():
        return
    if not directory.is_dir() or directory.is_symlink():
        raise FileExistsError(f"output {directory} exists and is not a folder; choose another")
    if not any(directory.iterdir()):
        return
    foreign = _describe_foreign(directory, owned)
    if foreign is not None:
        raise FileExistsError(
            f"output {directory} holds {foreign}, which is not part of a {kind}; nothing was "
            "replaced: choose another output folder (or move that file away)"
        )
    if not overwrite:
        raise FileExistsError(
            f"output {directory} already holds a {kind}; add --overwrite to replace it"
        )


@contextlib.contextmanager
def staged_folder(
    directory: Path | str, *, owned: Owned, kind: str, overwrite: bool
) -> Iterator[Path]:
    """Yields an empty staging folder; when the block ends without error, the staging folder
    becomes `directory` (see the module docstring)."""
    directory = Path(directory).absolute()
    check_replaceable(directory, owned=owned, kind=kind, overwrite=overwrite)
    directory.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{directory.name}{STAGING_MARK}"
    key = hashlib.sha256(str(directory).encode()).hexdigest()[:32]
    with FileLock(str(cache_dir("locks") / f"{key}.lock")):
        for stale in sorted(directory.parent.glob(prefix + "*")):
            if stale.name.endswith(".old") and not directory.exists():
                os.rename(stale, directory)  # killed mid-swap: the old version comes back
            else:
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=directory.parent))
        try:
            with full_disk_named(directory):
                yield staging
            check_replaceable(directory, owned=owned, kind=kind, overwrite=overwrite)
            _swap(staging=staging, directory=directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _swap(*, staging: Path, directory: Path) -> None:
    """Renames `staging` to `directory`; an existing `directory` is set aside first and put
    back if the rename fails, and removed only once the new one is in place."""
    if not directory.exists():
        os.rename(staging, directory)
        return
    retired = staging.with_name(staging.name + ".old")
    os.rename(directory, retired)
    try:
        os.rename(staging, directory)
    except OSError:
        os.rename(retired, directory)
        raise
    shutil.rmtree(retired)
