"""Reading a class-per-folder image directory: every file checked by decoding it with PIL.

The source folder is only read, never modified. RGB JPEG and PNG files are stored byte for
byte; every other readable image (grayscale, CMYK, RGBA, palette, other formats) is converted
with PIL's `convert("RGB")` (alpha is dropped) and stored losslessly as PNG. Files PIL cannot
decode (empty, truncated, not an image, larger than MAX_FILE_BYTES, beyond PIL's
decompression-bomb limit) are collected with the reason, so that all of them can be reported at
once. Only regular files are opened: named pipes, sockets, devices and links to them are listed
as ignored (opening a pipe would wait forever, reading a device would not end).

The source may also be a zip archive (the dataset as Kaggle serves it): `open_source` gives a
zipfile.Path, which offers the same reads, so the images are read from the archive without
unpacking it; names, labels and digests, hence splits, are those of the unpacked folder.
"""

import dataclasses
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from vit_jax.data.preprocessing import DECODE_ERRORS, to_rgb
from vit_jax.data.splits import content_digest

STORED_AS_IS = ("JPEG", "PNG")
# No image file is read past this size (the real images are ~5 KB; a 50 MP PNG is ~150 MB).
MAX_FILE_BYTES = 256 * 2**20
FILE_KINDS = {
    stat.S_ISFIFO: "named pipe",
    stat.S_ISSOCK: "socket",
    stat.S_ISCHR: "character device",
    stat.S_ISBLK: "block device",
}


Source = Path | zipfile.Path  # a folder, or a folder inside a zip archive


def is_archive(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def open_source(path: Path) -> Source:
    """`path` itself for a folder; the archive's top level (a zipfile.Path) for a zip file."""
    return zipfile.Path(path) if is_archive(Path(path)) else Path(path)


def relative(path: Source, root: Source) -> str:
    """`path` relative to `root`, "/"-separated, for folders and archives alike."""
    if isinstance(path, zipfile.Path):
        return path.at.rstrip("/").removeprefix(root.at)
    return str(path.relative_to(root))


def _children(folder: Source) -> list[Source]:
    return sorted(folder.iterdir(), key=lambda child: child.name)


@dataclasses.dataclass(frozen=True)
class ImageFile:
    path: Source  # the file in the source folder or archive
    name: str  # path relative to the source folder, e.g. "Boot/boot (1).jpg"
    label: int
    digest: str  # SHA-256 of the file's bytes
    stored_as_is: bool  # an RGB JPEG or PNG: its bytes are stored unchanged


@dataclasses.dataclass(frozen=True)
class FolderScan:
    images: list[ImageFile]
    unreadable: list[tuple[str, str]]  # (path, reason)
    ignored: list[str]  # stray top-level files, hidden files, folders, non-regular files
    source_fingerprint: str  # of every entry's path, size and modification time


class UnreadableImagesError(ValueError):
    """Raised with the full list of files that could not be decoded."""


def find_class_folders(*, root: Source) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of `root`, one per class."""
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found (or not a directory): {root}")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [name for name in names if name != "__MACOSX"]  # resource forks of macOS archives
    if not names:
        raise ValueError(
            f"No class folders in {root}: expected one sub-folder of images per class."
        )
    if len(names) < 2:
        raise ValueError(
            f"Only one class folder ({names[0]}) in {root}: a classifier needs at least two."
        )
    unprintable = [name for name in names if not name.isprintable()]
    if unprintable:
        raise ValueError(
            f"Class folder {unprintable[0]!r} in {root} has a control character (a newline, a "
            "tab, ...) in its name; class names are written one per line, so rename it"
        )
    return names


def class_files(
    *, root: Source, class_folders: Sequence[str]
) -> tuple[list[tuple[Source, int]], list[str]]:
    """((file, label i) for every regular file of `root/<class_folders[i]>/`, the entries left
    out: stray top-level files, hidden files, folders, non-regular files). A missing or empty
    class folder is refused by name."""
    missing = [str(root / name) for name in class_folders if not (root / name).is_dir()]
    if missing:
        raise FileNotFoundError(f"Missing class folder(s): {', '.join(missing)}")
    ignored = sorted(relative(p, root) for p in root.iterdir() if p.name not in class_folders)
    candidates, empty = [], []
    for label, name in enumerate(class_folders):
        files = []
        for path in _children(root / name):
            reason = _ignore_reason(path)
            if reason is not None:
                ignored.append(f"{relative(path, root)}{reason}")
            else:
                files.append((path, label))
        if not files:
            empty.append(str(root / name))
        candidates += files
    if empty:
        raise ValueError(
            f"Empty class folder(s): {', '.join(empty)}. Every class needs at least one image: "
            "add images or remove the folder."
        )
    return candidates, ignored


def scan_class_folders(*, root: Source, class_folders: Sequence[str]) -> FolderScan:
    """Decodes every regular file of `root/<class_folders[i]>/` (label i) and hashes its bytes."""
    candidates, ignored = class_files(root=root, class_folders=class_folders)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        inspected = list(pool.map(lambda p: _inspect(p[0]), candidates))
    images, unreadable = [], []
    for (path, label), (digest, stored_as_is, problem) in zip(candidates, inspected, strict=True):
        if problem:
            unreadable.append((str(path), problem))
        else:
            name = relative(path, root)
            images.append(ImageFile(path, name, label, digest, stored_as_is))
    return FolderScan(
        images=images,
        unreadable=unreadable,
        ignored=ignored,
        source_fingerprint=source_fingerprint(root=root, class_folders=class_folders),
    )


def source_fingerprint(*, root: Source, class_folders: Sequence[str]) -> str:
    """SHA-256 of the path, size and modification time of every entry of `root` and of its class
    folders (of an archive: every member's name, size and CRC), without reading any file:
    changes when a file is added, removed or rewritten."""
    sha = hashlib.sha256()
    if isinstance(root, zipfile.Path):
        for info in sorted(root.root.infolist(), key=lambda info: info.filename):
            sha.update(f"{info.filename}\t{info.file_size}\t{info.CRC}\n".encode())
        return sha.hexdigest()
    entries = [*root.iterdir()] + [p for name in class_folders for p in (root / name).iterdir()]
    for path in sorted(entries):
        try:
            info = path.stat()
            sha.update(f"{path.relative_to(root)}\t{info.st_size}\t{info.st_mtime_ns}\n".encode())
        except OSError:  # a broken link
            sha.update(f"{path.relative_to(root)}\tbroken\n".encode())
    return sha.hexdigest()


def unreadable_error(
    *, unreadable: Sequence[tuple[str, str]], skippable: bool = True
) -> UnreadableImagesError:
    """One error that names every unreadable file and the reason (and, where the command can,
    how to skip them)."""
    lines = "\n".join(f"  {path}: {reason}" for path, reason in unreadable)
    skip = (
        ", or skip them with --skip_bad_images (skip_bad_images=True), which writes the list of "
        "skipped files next to the prepared data"
    )
    return UnreadableImagesError(
        f"{len(unreadable)} file(s) could not be read as images:\n{lines}\n"
        f"Fix or remove them{skip if skippable else ''}."
    )


def rgb_bytes(*, image: ImageFile) -> bytes:
    """The encoded RGB image stored for `image` (re-read; must not have changed since the scan)."""
    data = image.path.read_bytes()
    if content_digest(data=data) != image.digest:
        raise RuntimeError(f"{image.path} changed while the dataset was being prepared.")
    if image.stored_as_is:
        return data
    with Image.open(io.BytesIO(data)) as decoded:
        buffer = io.BytesIO()
        to_rgb(decoded).save(buffer, format="PNG")
    return buffer.getvalue()


def _ignore_reason(path: Source) -> str | None:
    """None for a regular file to read; otherwise what is shown after its name in the list of
    ignored entries ('' for hidden files and folders)."""
    if path.name.startswith("."):
        return ""
    if isinstance(path, zipfile.Path):  # archive members are files or folders
        return "" if path.is_dir() else None
    try:
        mode = path.stat().st_mode
    except OSError:
        return " (broken link)"
    if stat.S_ISDIR(mode):
        return ""
    if stat.S_ISREG(mode):
        return None
    kind = next((kind for test, kind in FILE_KINDS.items() if test(mode)), "special file")
    return f" (not a regular file: {kind})"


def _inspect(path: Source) -> tuple[str, bool, str | None]:
    """(digest, stored_as_is, problem); problem is None for a decodable image."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return "", False, f"larger than {MAX_FILE_BYTES // 2**20} MiB"
        if not data:
            return "", False, "empty file (0 bytes)"
        with Image.open(io.BytesIO(data)) as decoded:
            decoded.load()
            stored_as_is = decoded.format in STORED_AS_IS and decoded.mode == "RGB"
    except DECODE_ERRORS as error:
        return "", False, f"{type(error).__name__}: {error}"
    return content_digest(data=data), stored_as_is, None
