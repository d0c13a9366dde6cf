"""Runs `python -m vit_jax.benchmark ARGS` as on a bare GPU machine, where grain, TFDS,
ml_collections and tensorboardX are not installed: importing any of them fails.

    python tests/without_packages.py --model ViT-Ti_16 --mode infer ...
"""

import importlib.abc
import runpy
import sys
from pathlib import Path

ABSENT = ("grain", "tensorflow_datasets", "ml_collections", "tensorboardX")


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
