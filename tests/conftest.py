"""Shared fixtures: synthetic images, source-tree hashing, the real dataset prepared once."""

import hashlib
import os
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

# The real Shoe vs Sandal vs Boot images: the folder holding Boot/, Sandal/ and Shoe/ (or the
# Kaggle archive's folder above them), from VIT_JAX_REAL_DATASET, else ../shared beside the
# checkout. Tests that need it skip without it.
REAL_DATASET = Path(
    os.environ.get("VIT_JAX_REAL_DATASET")
    or Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "shoe_sandal_boot"
)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """$VIT_JAX_CACHE (downloads, few-shot features) in a temporary folder for the whole session,
    subprocesses included, so that tests never read or fill the user's cache."""
    os.environ["VIT_JAX_CACHE"] = str(tmp_path_factory.mktemp("vit_jax_cache"))


@pytest.fixture(scope="session")
def write_image():
    """write_image(path, *, seed, size=(W, H), mode="RGB", format="JPEG") -> the bytes written.

    Random pixels drawn from `seed`, so different seeds give different files.
    """

    def write(path: Path, *, seed: int, size=(12, 9), mode="RGB", format="JPEG") -> bytes:
        rng = np.random.default_rng(seed)
        rgb = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
        image = rgb.convert(mode) if mode != "P" else rgb.quantize(colors=16)
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format=format)
        return path.read_bytes()

    return write


@pytest.fixture(scope="session")
def tree_digest():
    """tree_digest(root) -> SHA-256 of every path, file content and mtime under root."""

    def digest(root: Path) -> str:
        sha = hashlib.sha256()
        for path in sorted(root.rglob("*")):
            sha.update(str(path.relative_to(root)).encode())
            if path.is_file():
                sha.update(path.read_bytes())
                sha.update(str(path.stat().st_mtime_ns).encode())
        return sha.hexdigest()

    return digest


@pytest.fixture(scope="session")
def prepared_real_dataset(tmp_path_factory, tree_digest):
    """source, data_dir, report and the source tree's digest before/after preparing it."""
    if not REAL_DATASET.is_dir():
        pytest.skip(f"real dataset not present at {REAL_DATASET}")
    from vit_jax.data.prepare import prepare

    before = tree_digest(REAL_DATASET)
    data_dir = tmp_path_factory.mktemp("real_data")
    _, report = prepare(dataset="shoe_sandal_boot", source_dir=REAL_DATASET, data_dir=data_dir)
    return SimpleNamespace(
        source=REAL_DATASET,
        data_dir=data_dir,
        report=report,
        digest_before=before,
        digest_after=tree_digest(REAL_DATASET),
    )


def decompression_bomb_png(path: Path) -> None:
    """A PNG header declaring 20000 x 20000 pixels, beyond PIL's decompression-bomb limit."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
