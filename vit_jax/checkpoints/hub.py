"""Checkpoints on the Hugging Face hub (`hf://ORG/NAME[@REVISION]`): only the files the converter
reads, through huggingface_hub into the hub's own cache (HF_ENDPOINT, HF_HUB_OFFLINE and HF_TOKEN
apply). The hub is asked once whether it answers before huggingface_hub's own retries can start,
so an offline machine gets one line at once instead of half a minute of warnings.
"""

import os
from pathlib import Path
from urllib.parse import urlparse

import requests

from vit_jax.checkpoints.remote import DownloadError, give_local, short_reason

HUB_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
HUB_FILES = ("config.json", "preprocessor_config.json")


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
        return f"{urlparse(endpoint).netloc}: {short_reason(error)}"
    return None


def _first_line(error: Exception | str) -> str:
    return str(error).strip().splitlines()[0][:200]


def _unreachable(spec: str, error: Exception | str, manual: str) -> DownloadError:
    return DownloadError(
        f"{spec}: not in the Hugging Face cache and the hub cannot be reached "
        f"({_first_line(error)}); connect, or {manual}"
    )
