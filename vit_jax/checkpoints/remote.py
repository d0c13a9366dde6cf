"""Checkpoints named by an address: `hf://ORG/NAME[@REVISION]` through huggingface_hub (only the
files the converter reads, into the hub's own cache), and `https://`, `http://` or
`gs://BUCKET/PATH` (the bucket's public https address) streamed into $VIT_JAX_CACHE/downloads.

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
HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HUB_FILES = ("config.json", "preprocessor_config.json")
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


def fetch(spec: str, *, sha256: str | None = None, size: int | None = None) -> Path:
    """The local path of `spec`: a hub snapshot folder for hf://, else the downloaded file."""
    if spec.startswith("hf://"):
        return hub_folder(spec)
    return download(spec, sha256=sha256, size=size)


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
            f"cannot connect to {host} for {address} ({_reason(error)}); check the network, or "
            + by_hand(address, name)
        ) from error
    except requests.exceptions.RequestException as error:  # redirect loops, bad addresses
        raise DownloadError(
            f"{address}: {type(error).__name__}: {_reason(error)}; check the address, or "
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


def _reason(error: Exception) -> str:
    text = str(error)
    for known in ("Name or service not known", "Connection refused", "timed out"):
        if known in text:
            return known
    return text.splitlines()[0][:200]


def hub_folder(spec: str) -> Path:
    """The hub snapshot folder holding config.json and the weights (safetensors, else the .bin)
    of hf://ORG/NAME[@REVISION], downloading only those files (HF_ENDPOINT, HF_HUB_OFFLINE and
    the hub cache are huggingface_hub's)."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo, _, revision = spec.removeprefix("hf://").partition("@")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    folder = repo.split("/")[-1]
    manual = f"download it by hand (hf download {repo} --local-dir {folder}) and " + give_local(
        folder
    )

    # huggingface_hub retries a refused connection for about 25 s, warning twice per try: one
    # request tells first whether the hub answers at all; if not, only its cache is read.
    unreachable = _unreachable_reason(endpoint or constants.ENDPOINT)

    def get(file_name: str) -> Path:
        return Path(
            hf_hub_download(
                repo,
                file_name,
                revision=revision or None,
                endpoint=endpoint,
                local_files_only=unreachable is not None,
            )
        )

    missing = []

    def fetched(file_name: str) -> bool:
        """Downloads an optional file; False when it is absent (or, offline, not cached)."""
        try:
            get(file_name)
            return True
        except EntryNotFoundError as error:
            missing.append(error)
            return False

    try:
        config = get(HUB_FILES[0])
        fetched(HUB_FILES[1])
        weights = next((name for name in HUB_WEIGHTS if fetched(name)), None)
    except (RepositoryNotFoundError, RevisionNotFoundError, HfHubHTTPError) as error:
        raise DownloadError(f"{spec}: {_first_line(error)}; check the name, or {manual}") from error
    except LocalEntryNotFoundError as error:
        raise _unreachable(spec, unreachable or error, manual) from error
    if weights is None:
        offline = [e for e in missing if isinstance(e, LocalEntryNotFoundError)]
        if offline:
            raise _unreachable(spec, unreachable or offline[0], manual)
        raise DownloadError(f"{spec}: the repository has neither of {', '.join(HUB_WEIGHTS)}")
    return config.parent


def _unreachable_reason(endpoint: str) -> str | None:
    """Why the hub at `endpoint` cannot be reached (offline mode, no connection), or None when
    it answers (with any HTTP status)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        requests.head(endpoint, timeout=10, allow_redirects=False).close()
    except requests.exceptions.RequestException as error:
        return f"{urlparse(endpoint).netloc}: {_reason(error)}"
    return None


def _first_line(error: Exception | str) -> str:
    return str(error).strip().splitlines()[0][:200]


def _unreachable(spec: str, error: Exception | str, manual: str) -> DownloadError:
    return DownloadError(
        f"{spec}: not in the Hugging Face cache and the hub cannot be reached "
        f"({_first_line(error)}); connect, or {manual}"
    )
