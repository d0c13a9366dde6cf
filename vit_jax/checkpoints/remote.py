"""Checkpoints named by an address: `https://`, `http://` or `gs://BUCKET/PATH` (the bucket's
public https address) streamed into $VIT_JAX_CACHE/downloads (`hf://ORG/NAME[@REVISION]` is
hub.py's).

A download is written to `<file>.part`, resumed with an HTTP Range request after an interruption
(a few times within one call, and by the next call), checked against the size the server
announced (and a SHA-256 or size when one is known), then renamed into place; a second call finds
it and sends no request. requests does the HTTP; the resumable, verified, renamed download on top
is written by hand, as neither requests nor huggingface_hub offers one for arbitrary addresses.
"""

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import requests
import urllib3
from filelock import FileLock
from tqdm import tqdm

from vit_jax.common.cache import cache_dir
from vit_jax.common.errors import describe

SCHEMES = ("hf://", "https://", "http://", "gs://")
ATTEMPTS = 4
# A transfer slower than MIN_RATE bytes/s over any RATE_WINDOW seconds stops (resumable): a server
# that trickles would otherwise hold the command forever (each read has its own timeout only).
CHUNK = 1 << 20
MIN_RATE = 1024
RATE_WINDOW = 60.0


class DownloadError(ValueError):
    """A download that failed in a way the user can act on; the message says how."""


class _Interrupted(Exception):
    """The transfer stopped before the announced size; the partial file can be resumed."""


def is_remote(spec: str) -> bool:
    return str(spec).startswith(SCHEMES)


def https_address(url: str) -> str:
    """gs://BUCKET/PATH -> https://storage.googleapis.com/BUCKET/PATH; others unchanged."""
    if url.startswith("gs://"):
        return "https://storage.googleapis.com/" + url.removeprefix("gs://")
    return url


def give_local(path: str) -> str:
    """How to hand a downloaded checkpoint to the commands that take one."""
    return (
        f"give {path} as --config.checkpoint_dir={path} (main.py), --checkpoint {path} "
        f"(predict, evaluate, fewshot, inspect) or --input {path} (convert_checkpoint)"
    )


def by_hand(address: str, file_name: str) -> str:
    return f"download it by hand (curl -L -C - -o {file_name} {address}) and " + give_local(
        file_name
    )


@contextlib.contextmanager
def discarded_if_unusable(path: Path, *, address: str) -> Iterator[None]:
    """Around the conversion of a file downloaded from `address`: if the file itself cannot be
    read (truncated, corrupt, not a weight file), it is removed from the download cache, so that
    the next run fetches it again instead of failing on it again; the error says so. A readable
    file refused for other reasons (another model's weights) is kept. Hub snapshot folders
    (hf://) are the hub cache's and are left alone."""
    from vit_jax.checkpoints.formats.source import ConversionError, UnreadableFileError

    try:
        yield
    except UnreadableFileError as error:
        if address.startswith("hf://") or not path.is_file():
            raise
        path.unlink(missing_ok=True)
        raise ConversionError(
            f"{error}; the download {path} was removed from the cache, so the next run fetches "
            f"{address} again"
        ) from error


def download(
    url: str, *, sha256: str | None = None, size: int | None = None, progress: bool = True
) -> Path:
    """The file at `url`, from the cache or downloaded into it (see the module docstring)."""
    address = https_address(url)
    name = Path(urlparse(address).path).name or "download"
    folder = cache_dir("downloads", hashlib.sha256(address.encode()).hexdigest()[:16])
    target, partial = folder / name, folder / (name + ".part")
    with FileLock(str(folder / (name + ".lock"))):
        if target.is_file():
            return target
        for _ in range(ATTEMPTS):
            try:
                _transfer(address, partial=partial, progress=progress)
                break
            except _Interrupted:
                continue
        else:
            done = partial.stat().st_size if partial.exists() else 0
            raise DownloadError(
                f"{address}: the connection broke {ATTEMPTS} times (kept {done} bytes in "
                f"{partial}); run the same command again to resume, or {by_hand(address, name)}"
            )
        _verify(partial, address=address, name=name, sha256=sha256, size=size)
        os.replace(partial, target)
    return target


def _verify(partial: Path, *, address: str, name: str, sha256: str | None, size: int | None):
    found = partial.stat().st_size
    if size is not None and found != size:
        partial.unlink()
        raise DownloadError(
            f"{address}: {found} bytes, expected {size}; removed it; {by_hand(address, name)}"
        )
    if sha256 is not None:
        with open(partial, "rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        if digest != sha256:
            partial.unlink()
            raise DownloadError(
                f"{address}: SHA-256 {digest} is not the expected {sha256}; removed it; "
                + by_hand(address, name)
            )


def _transfer(address: str, *, partial: Path, progress: bool) -> None:
    """Appends the rest of `address` to `partial` (all of it if the server ignores the Range)."""
    start = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    name = partial.name.removesuffix(".part")
    try:
        response = requests.get(address, headers=headers, stream=True, timeout=60)
    except requests.exceptions.ConnectionError as error:
        host = urlparse(address).netloc
        raise DownloadError(
            f"cannot connect to {host} for {address} ({short_reason(error)}); check the network, "
            "or " + by_hand(address, name)
        ) from error
    except requests.exceptions.RequestException as error:  # redirect loops, bad addresses
        raise DownloadError(
            f"{address}: {type(error).__name__}: {short_reason(error)}; check the address, or "
            + by_hand(address, name)
        ) from error
    with response:
        if response.status_code == 416 and start:  # the partial file is not a prefix of it
            partial.unlink()
            raise _Interrupted
        if response.status_code not in (200, 206):
            partial.unlink(missing_ok=True)
            raise DownloadError(
                f"{address}: HTTP {response.status_code} {response.reason}; check the address, "
                f"or {by_hand(address, name)}"
            )
        resumed = response.status_code == 206
        length = response.headers.get("Content-Length")
        total = None if length is None else int(length) + (start if resumed else 0)
        with (
            open(partial, "ab" if resumed else "wb") as file,
            tqdm(
                total=total,
                initial=start if resumed else 0,
                unit="B",
                unit_scale=True,
                desc=name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            window_start, window_bytes = time.monotonic(), 0
            try:
                for chunk in _arriving(response):
                    file.write(chunk)
                    bar.update(len(chunk))
                    window_bytes += len(chunk)
                    if time.monotonic() - window_start >= RATE_WINDOW:
                        if window_bytes < MIN_RATE * RATE_WINDOW:
                            raise DownloadError(
                                f"{address}: slower than {MIN_RATE} bytes/s for "
                                f"{RATE_WINDOW:g} s; kept {file.tell()} bytes in {partial}; run "
                                "the same command again to resume, or " + by_hand(address, name)
                            )
                        window_start, window_bytes = time.monotonic(), 0
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                urllib3.exceptions.HTTPError,  # a broken or timed-out read of the raw stream
            ):
                raise _Interrupted from None
            except OSError as error:  # a full disk: what was written can be resumed
                raise DownloadError(
                    f"{address}: {describe(error)}; kept {file.tell()} bytes in {partial}; run "
                    "the same command again to resume"
                ) from error
    if total is not None and partial.stat().st_size < total:
        raise _Interrupted


def _arriving(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, whatever the socket holds up to CHUNK bytes at a time (requests'
    iter_content waits until a whole chunk has come, so a trickle would never be seen)."""
    while chunk := response.raw.read1(CHUNK, decode_content=True):
        yield chunk


def short_reason(error: Exception) -> str:
    text = str(error)
    for known in ("Name or service not known", "Connection refused", "timed out"):
        if known in text:
            return known
    return text.splitlines()[0][:200]
