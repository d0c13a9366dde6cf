"""Writes the reference pixels of tests/test_preprocessing_reference.py from timm and torchvision.

Run with a Python that has timm and torchvision (the project's own environment does not need
them): `python tests/data/transforms/make_reference.py`. It writes, beside itself, three source
images (JPEG and PNG, odd sizes), and for each evaluation transform in TRANSFORMS and each source
the uint8 pixels that transform gives before normalisation (`<transform>-<source>.png`), plus
reference.json: each transform's configuration as its library states it, the library versions,
and a check that the normalised output equals the stored pixels normalised.
"""

import json
import sys
from pathlib import Path

import numpy as np
import timm
import timm.data
import torch
import torchvision
from PIL import Image
from torchvision.models import ResNet50_Weights

HERE = Path(__file__).parent
SOURCES = {"shoe.jpg": (136, 102), "tall.png": (97, 143), "wide.jpg": (301, 227)}  # (W, H)
# timm pretrained_cfg entries (a timm hub folder's config.json holds them).
TIMM = {
    "timm-vit_base_patch16_224.augreg2_in21k_ft_in1k": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
    "timm-resnet50.a1_in1k": "resnet50.a1_in1k",
}
TORCHVISION = {
    "torchvision-ResNet50_Weights.IMAGENET1K_V1": ResNet50_Weights.IMAGENET1K_V1,
}


def source_image(width: int, height: int, seed: int) -> np.ndarray:
    """Smooth colour ramps with noise: edges and gradients that show a shifted crop."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) % 64 * 4], axis=-1)
    return np.clip(base + rng.normal(0, 1, base.shape), 0, 255).astype(np.uint8)


def as_uint8(normalised: torch.Tensor, mean, std) -> np.ndarray:
    """The uint8 pixels a normalising transform started from (exact: they were uint8)."""
    image = normalised.numpy().transpose(1, 2, 0) * np.asarray(std) + np.asarray(mean)
    pixels = np.round(image * 255)
    assert np.abs(image * 255 - pixels).max() < 1e-3, "not a normalised uint8 image"
    return pixels.astype(np.uint8)


def main() -> None:
    report = {
        "versions": {"timm": timm.__version__, "torchvision": torchvision.__version__},
        "transforms": {},
    }
    for seed, (name, size) in enumerate(SOURCES.items()):
        image = Image.fromarray(source_image(*size, seed=seed))
        image.save(HERE / name, quality=90) if name.endswith(".jpg") else image.save(HERE / name)
    for key, model in TIMM.items():
        config = timm.data.resolve_data_config(
            pretrained_cfg=timm.models.get_pretrained_cfg(model).to_dict()
        )
        transform = timm.data.create_transform(**config)
        report["transforms"][key] = {
            "pretrained_cfg": {k: v for k, v in config.items()},
            "repr": repr(transform),
        }
        for name in SOURCES:
            with Image.open(HERE / name) as opened:
                out = transform(opened.convert("RGB"))
            Image.fromarray(as_uint8(out, config["mean"], config["std"])).save(
                HERE / f"{key}-{name}.png"
            )
    for key, weights in TORCHVISION.items():
        transform = weights.transforms()
        report["transforms"][key] = {
            "resize_size": transform.resize_size,
            "crop_size": transform.crop_size,
            "interpolation": transform.interpolation.value,
            "mean": transform.mean,
            "std": transform.std,
            "repr": repr(transform),
        }
        for name in SOURCES:
            with Image.open(HERE / name) as opened:
                out = transform(opened.convert("RGB"))
            pixels = as_uint8(out, transform.mean, transform.std)
            Image.fromarray(pixels).save(HERE / f"{key}-{name}.png")
    (HERE / "reference.json").write_text(json.dumps(report, indent=2, default=list) + "\n")
    print(
        f"wrote {len(report['transforms'])} transforms x {len(SOURCES)} images to {HERE}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
