"""Runs `python -m vit_jax.benchmark ARGS` with only jax, flax, optax and numpy, as on a bare GPU
machine: importing grain, TFDS, ml_collections, tensorboardX, torch, transformers or timm fails
(torch and transformers are needed only for --compare pytorch).

    python tests/without_packages.py --model ViT-Ti_16 --mode infer ...
"""

import importlib.abc
import runpy
import sys
from pathlib import Path

ABSENT = (
    "grain",
    "tensorflow_datasets",
    "ml_collections",
    "tensorboardX",
    "torch",
    "transformers",
    "timm",
)


class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ABSENT:
            raise ModuleNotFoundError(f"No module named {name!r} (absent in this test)")
        return None


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.meta_path.insert(0, Absent())
    sys.argv[0] = "vit_jax.benchmark"
    runpy.run_module("vit_jax.benchmark", run_name="__main__")
