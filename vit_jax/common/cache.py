"""The project's cache folder: $VIT_JAX_CACHE, default ~/.cache/vit_jax, holding downloads,
checkpoints converted from a name or address, and few-shot features."""

import os
from pathlib import Path

CACHE_ENV = "VIT_JAX_CACHE"


def cache_dir(*parts: str) -> Path:
    """$VIT_JAX_CACHE/<parts...>, created if missing."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "vit_jax")
    folder = root.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
