"""Conversion benchmark helpers: a real-size ViT-B/16 .npz written array by array, peak RSS."""

import resource
import zipfile
from pathlib import Path

import numpy as np

from vit_jax.checkpoints.formats.fit import expected_shapes
from vit_jax.checkpoints.pre_linen import PRE_LINEN_BLOCK_CHILDREN

MODEL = "ViT-B_16"
# Linen -> pre-Linen module numbering inside an encoder block, as in the released .npz files.
PRE_LINEN = {linen: pre for pre, linen in PRE_LINEN_BLOCK_CHILDREN.items() if linen != pre}


def write_vit_b16_npz(path: Path) -> tuple[int, int]:
    """Writes the .npz one array at a time; returns (arrays, parameters)."""
    shapes = expected_shapes(model=MODEL, num_classes=1000, image_size=(224, 224), overrides={})
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", allowZip64=True) as archive:
        for name, shape in shapes.items():
            key = name.removeprefix("params/")
            for linen, pre_linen in PRE_LINEN.items():
                key = key.replace(f"/{linen}/", f"/{pre_linen}/")
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                array = (0.02 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32)
                np.lib.format.write_array(member, array)
    return len(shapes), sum(int(np.prod(s)) for s in shapes.values())


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
