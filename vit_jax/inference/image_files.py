"""Image files named on a command line: files, folders (searched recursively) and glob patterns,
decoded in a thread pool while the previous batch runs on the device."""

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from vit_jax.data.folder_scan import MAX_FILE_BYTES
from vit_jax.data.preprocessing import DECODE_ERRORS


def gather(paths: Sequence[str]) -> tuple[list[Path], list[str]]:
    """(files in order, arguments that matched nothing). Hidden files are skipped in folders."""
    files, unmatched = [], []
    for argument in paths:
        path = Path(argument)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.exists():
            found = [path]
        else:
            matches = glob.glob(argument, recursive=True)
            found = sorted(Path(p) for p in matches if Path(p).is_file())
        if not found:
            unmatched.append(argument)
        files += found
    return files, unmatched


def _read(path: Path, preprocess: Callable[[bytes], np.ndarray]) -> np.ndarray | str:
    """The preprocessed image, or why it could not be read."""
    try:
        if not path.is_file():
            return "not a regular file"
        with path.open("rb") as file:  # a file, or a member of a zip archive (zipfile.Path)
            data = file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return f"larger than {MAX_FILE_BYTES // 2**20} MiB"
        return preprocess(data)
    except DECODE_ERRORS as error:
        return f"{type(error).__name__}: {error}"


def batches(
    files: Sequence[Path], *, batch_size: int, preprocess: Callable[[bytes], np.ndarray]
) -> Iterator[tuple[list[Path], list[np.ndarray], list[tuple[Path, str]]]]:
    """(readable paths, their inputs, [(path, reason) unreadable]) per batch of files; the next
    batch is decoded while the caller works on this one."""
    chunks = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:

        def submit(chunk: Sequence[Path]) -> list[Future]:
            return [pool.submit(_read, path, preprocess) for path in chunk]

        pending = submit(chunks[0]) if chunks else []
        for index, chunk in enumerate(chunks):
            results = [future.result() for future in pending]
            pending = submit(chunks[index + 1]) if index + 1 < len(chunks) else []
            good = [(p, r) for p, r in zip(chunk, results, strict=True) if not isinstance(r, str)]
            bad = [(p, r) for p, r in zip(chunk, results, strict=True) if isinstance(r, str)]
            yield [p for p, _ in good], [r for _, r in good], bad
