"""Files replaced atomically: written under a temporary name in the same folder, then renamed
over the target, so a failure while writing (a full disk, a kill) leaves the previous version
intact and never a partial file. Written by hand: the standard library has the two pieces
(tempfile, os.replace) but not the pattern.
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vit_jax.common.errors import full_disk_named


@contextlib.contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """Yields a temporary path beside `path`; when the block ends without an error the file
    written there replaces `path` (fsynced first), otherwise it is removed. A full disk's error
    names `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, _mode_for(path))
    try:
        with full_disk_named(path):
            yield temporary
            with open(temporary, "rb") as written:
                os.fsync(written.fileno())
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or those a new file gets under the umask (mkstemp's own
    0600 would make every output private)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text(path: Path | str, text: str) -> Path:
    """Writes `text` to `path` atomically; returns the path."""
    with replacing(path) as temporary:
        temporary.write_text(text)
    return Path(path)


def save_png(figure, path: Path | str, *, dpi: int = 120) -> Path:
    """Saves a matplotlib Figure as a PNG at `path` atomically; returns the path."""
    with replacing(path) as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    return Path(path)
