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


@contextlib.contextmanager
def replacing(path: Path | str) -> Iterator[Path]:
    """Yields a temporary path beside `path`; when the block ends without an error the file
    written there replaces `path` (fsynced first), otherwise it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> Path:
    """Writes `text` to `path` atomically; returns the path."""
    with replacing(path) as temporary:
        temporary.write_text(text)
    return Path(path)
