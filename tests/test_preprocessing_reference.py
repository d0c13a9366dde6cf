"""Checkpoints are fed the pixels their authors feed them: the evaluation transforms read from
Hugging Face image processor configs, timm's pretrained_cfg and torchvision's documented
transform give the same uint8 pixels as those libraries, on JPEG and PNG files of odd sizes
(where a centre crop's offset rounding shows).

Hugging Face's processors run here (PIL backend). timm and torchvision are not dependencies: their
output was written by tests/data/transforms/make_reference.py (library versions in
reference.json), and is compared here against what the project computes from the same
configuration."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from transformers import AutoImageProcessor

from vit_jax.checkpoints.formats import hf_config, timm_config
from vit_jax.checkpoints.formats.torch_resnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    TORCHVISION_EVALUATION,
)
from vit_jax.data.preprocessing import decode_rgb, model_pixels, normalise, parse_preprocessing

REFERENCE = Path(__file__).parent / "data" / "transforms"
SOURCES = ("shoe.jpg", "tall.png", "wide.jpg")
IMAGENET = {"image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD)}
HUGGING_FACE = {
    # microsoft/resnet-50 and -152, as published (the study's ResNets)
    "convnext-224": {
        "feature_extractor_type": "ConvNextFeatureExtractor",
        "crop_pct": 0.875,
        "size": 224,
        "resample": 3,
        **IMAGENET,
    },
    "convnext-384": {
        "image_processor_type": "ConvNextImageProcessor",
        "crop_pct": 0.875,
        "size": {"shortest_edge": 384},
        "resample": 3,
        **IMAGENET,
    },
    # crop_pct 0.95: resize to 235, an odd size difference to crop
    "convnext-0.95": {
        "image_processor_type": "ConvNextImageProcessor",
        "crop_pct": 0.95,
        "size": {"shortest_edge": 224},
        "resample": 2,
        **IMAGENET,
    },
    # google/vit-base-patch16-224
    "vit": {
        "image_processor_type": "ViTImageProcessor",
        "size": {"height": 224, "width": 224},
        "resample": 2,
        "image_mean": [0.5] * 3,
        "image_std": [0.5] * 3,
    },
    "bit": {
        "image_processor_type": "BitImageProcessor",
        "size": {"shortest_edge": 255},
        "do_center_crop": True,
        "crop_size": {"height": 224, "width": 224},
        "resample": 3,
        **IMAGENET,
    },
}


def ours(preprocessing: dict, file: Path, size: tuple[int, int]) -> np.ndarray:
    return model_pixels(
        image=decode_rgb(image=file.read_bytes()),
        size=size,
        normalisation=parse_preprocessing(preprocessing=preprocessing),
    )


@pytest.mark.parametrize("name", HUGGING_FACE)
def test_pixels_equal_the_hugging_face_image_processor(name, tmp_path):
    config = HUGGING_FACE[name]
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    processor = AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    preprocessing = hf_config.preprocessing(config, default_mean=(0.5,) * 3, default_std=(0.5,) * 3)
    normalisation = parse_preprocessing(preprocessing=preprocessing)
    for source in SOURCES:
        with Image.open(REFERENCE / source) as image:
            expected = processor(images=image.convert("RGB"), return_tensors="np")
        expected = expected["pixel_values"][0].transpose(1, 2, 0)
        pixels = ours(preprocessing, REFERENCE / source, expected.shape[:2])
        got = normalise(pixels=pixels, normalisation=normalisation)
        grey_levels = np.abs(got - expected) * np.asarray(normalisation.scale) * 255
        assert grey_levels.max() < 1e-3, (name, source, grey_levels.max())


def test_pixels_equal_timm_evaluation_transform():
    reference = json.loads((REFERENCE / "reference.json").read_text())["transforms"]
    timm_entries = {k: v for k, v in reference.items() if k.startswith("timm-")}
    assert len(timm_entries) == 2
    for key, entry in timm_entries.items():
        preprocessing = timm_config.preprocessing(entry["pretrained_cfg"], file=key)
        size = tuple(entry["pretrained_cfg"]["input_size"][1:])
        for source in SOURCES:
            expected = np.asarray(Image.open(REFERENCE / f"{key}-{source}.png"))
            assert np.array_equal(ours(preprocessing, REFERENCE / source, size), expected), (
                key,
                source,
            )


def test_pixels_equal_torchvision_documented_transform():
    entry = json.loads((REFERENCE / "reference.json").read_text())["transforms"][
        "torchvision-ResNet50_Weights.IMAGENET1K_V1"
    ]
    assert (entry["resize_size"], entry["crop_size"], entry["interpolation"]) == (
        [TORCHVISION_EVALUATION["resize_shortest_edge"]],
        [TORCHVISION_EVALUATION["crop_size"]],
        "bilinear",
    )
    preprocessing = {"mean": entry["mean"], "std": entry["std"], "resize_method": "bilinear"}
    preprocessing |= TORCHVISION_EVALUATION
    for source in SOURCES:
        expected = np.asarray(
            Image.open(REFERENCE / f"torchvision-ResNet50_Weights.IMAGENET1K_V1-{source}.png")
        )
        assert np.array_equal(ours(preprocessing, REFERENCE / source, (224, 224)), expected)


def test_the_offset_rounding_is_what_separates_the_libraries():
    """Hugging Face floors a crop's offset, torchvision and timm round it: on an odd size
    difference (235 -> 224) the two crops differ, and each reference agrees only with its own."""
    base = {"mean": [0.5] * 3, "std": [0.5] * 3, "resize_method": "bicubic"}
    crop = {"resize_shortest_edge": 235, "crop_size": 224}
    floor = ours(base | crop | {"crop_offset": "floor"}, REFERENCE / "wide.jpg", (224, 224))
    rounded = ours(base | crop | {"crop_offset": "round"}, REFERENCE / "wide.jpg", (224, 224))
    assert not np.array_equal(floor, rounded)
