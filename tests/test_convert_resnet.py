"""BatchNorm ResNets: Hugging Face folders (microsoft/resnet-*) and torchvision .pth state dicts
(renamed from the HF model with the reference key tables) -> logits equal to the PyTorch model."""

import json

import numpy as np
import pytest
import safetensors.torch
import torch
from checkpoint_writers import (
    perturb_torch_model,
    random_images,
    randomise_batch_norm_statistics,
    rescale_head,
    resnet_keys,
)
from flax import traverse_util
from PIL import Image
from transformers import AutoImageProcessor, ResNetConfig, ResNetForImageClassification

from vit_jax import Classifier, checkpoints, convert_checkpoint
from vit_jax.models import create_model

TOLERANCE = 1e-4
IMAGENET = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
# microsoft/resnet-50's preprocessor_config.json, as published.
MICROSOFT_RESNET = {
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ConvNextFeatureExtractor",
    "image_mean": IMAGENET["mean"],
    "image_std": IMAGENET["std"],
    "resample": 3,
    "size": 224,
}


def convert(args: list) -> None:
    assert convert_checkpoint.main([str(a) for a in args]) == 0


def logits_of(directory, images: np.ndarray) -> np.ndarray:
    loaded = checkpoints.load(directory=directory)
    meta = loaded.metadata
    model = create_model(meta["model"], num_classes=meta["num_classes"], **meta["model_overrides"])
    return np.asarray(model.apply(loaded.variables, images, train=False))


def torch_logits(model, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits.numpy()


def hf_resnet(
    depths: list[int], *, seed: int, size: tuple[int, int]
) -> ResNetForImageClassification:
    config = ResNetConfig(depths=depths, layer_type="bottleneck", num_labels=1000)
    torch.manual_seed(seed)
    model = ResNetForImageClassification(config)
    perturb_torch_model(model, seed=seed, scale=0.1, vectors_only=True)
    randomise_batch_norm_statistics(model, seed=seed)
    rescale_head(model, model.classifier[1], images=random_images(batch=2, size=size, seed=seed))
    return model


def torchvision_state(model, name: str) -> dict[str, torch.Tensor]:
    """The model's state dict under torchvision names (third column of resnet_keys(name))."""
    rename = {hf: torchvision for hf, _, torchvision in resnet_keys(name)[0]}
    state = model.state_dict()
    assert set(state) == set(rename)
    return {rename[k]: v for k, v in state.items()}


@pytest.fixture(scope="module")
def resnet50():
    return hf_resnet([3, 4, 6, 3], seed=0, size=(224, 224))


@pytest.mark.slow
def test_full_size_resnet50_hf_folder_matches_pytorch(tmp_path, resnet50):
    resnet50.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "preprocessor_config.json").write_text(json.dumps(MICROSOFT_RESNET))
    saved = safetensors.torch.load_file(tmp_path / "hf" / "model.safetensors")
    # the file has exactly microsoft/resnet-50's names and shapes
    table = {hf: shape for hf, shape, _ in resnet_keys("ResNet-50")[0]}
    assert {k: tuple(v.shape) for k, v in saved.items()} == table
    convert(
        [
            "--input",
            tmp_path / "hf",
            "--model",
            "ResNet-50",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    restored = checkpoints.restore(directory=tmp_path / "out")
    meta = restored.metadata
    assert meta["preprocessing"] == {
        **IMAGENET,
        "resize_method": "bicubic",
        "resize_shortest_edge": 256,
        "crop_size": 224,
        "crop_offset": "floor",
    }
    assert meta["source_format"] == "hf_resnet" and meta["num_classes"] == 1000
    stats = traverse_util.flatten_dict(restored.variables["batch_stats"], sep="/")
    assert len(stats) == 2 * 53
    running_var = saved["resnet.encoder.stages.2.layers.0.shortcut.normalization.running_var"]
    assert np.array_equal(stats["block3/unit1/bn_proj/var"], running_var.numpy())

    images = random_images(batch=2, size=(224, 224), seed=1)
    expected = torch_logits(resnet50, images)
    assert np.abs(expected).max() > 1.0
    assert np.abs(logits_of(tmp_path / "out", images) - expected).max() <= TOLERANCE

    # Image files of other shapes, through the checkpoint's own processor and through ours.
    processor = AutoImageProcessor.from_pretrained(tmp_path / "hf", backend="pil")
    classifier = Classifier.load(tmp_path / "out")
    for index, (width, height) in enumerate([(136, 102), (97, 143)]):
        file = tmp_path / f"{index}.jpg"
        pixels = np.random.default_rng(index).integers(0, 256, (height, width, 3), np.uint8)
        Image.fromarray(pixels).save(file)
        with Image.open(file) as image:
            pixels = processor(images=image.convert("RGB"), return_tensors="np")["pixel_values"]
        expected = torch_logits(resnet50, pixels.transpose(0, 2, 3, 1))
        ours = classifier.logits([file])[0]
        assert np.abs(ours - expected[0]).max() <= TOLERANCE


def test_torchvision_pth_matches_pytorch_and_hf_conversion(tmp_path, resnet50):
    torch.save(torchvision_state(resnet50, "ResNet-50"), tmp_path / "resnet50.pth")
    convert(
        [
            "--input",
            tmp_path / "resnet50.pth",
            "--model",
            "ResNet-50",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    meta = checkpoints.restore(directory=tmp_path / "out").metadata
    assert meta["source_format"] == "torchvision_resnet"
    assert meta["preprocessing"] == {  # torchvision's documented IMAGENET1K_V1 transform
        **IMAGENET,
        "resize_method": "bilinear",
        "resize_shortest_edge": 256,
        "crop_size": 224,
        "crop_offset": "round",
    }
    images = random_images(batch=2, size=(64, 96), seed=2)
    expected = torch_logits(resnet50, images)
    assert np.abs(logits_of(tmp_path / "out", images) - expected).max() <= TOLERANCE


def test_resnet_model_without_head_gets_zero_head(tmp_path, resnet50):
    """ResNetModel keys (no 'resnet.' prefix, no classifier) with --num_classes."""
    state = {
        k.removeprefix("resnet."): v.contiguous()
        for k, v in resnet50.state_dict().items()
        if not k.startswith("classifier")
    }
    (tmp_path / "hf").mkdir()
    safetensors.torch.save_file(state, tmp_path / "hf" / "model.safetensors")
    (tmp_path / "hf" / "config.json").write_text(resnet50.config.to_json_string())
    convert(
        [
            "--input",
            tmp_path / "hf",
            "--model",
            "ResNet-50",
            "--output",
            tmp_path / "out",
            "--num_classes",
            "3",
        ]
    )
    variables = checkpoints.restore(directory=tmp_path / "out").variables
    assert variables["params"]["head"]["kernel"].shape == (2048, 3)
    assert not variables["params"]["head"]["kernel"].any()
    conv = state["encoder.stages.3.layers.2.layer.1.convolution.weight"].numpy()
    kernel = variables["params"]["block4"]["unit3"]["conv2"]["kernel"]
    assert np.array_equal(kernel, conv.transpose(2, 3, 1, 0))


@pytest.mark.slow
def test_resnet152_torchvision_pth_matches_pytorch(tmp_path):
    """microsoft/resnet-152 depths; the .pth uses torchvision_resnet152 names."""
    model = hf_resnet([3, 8, 36, 3], seed=3, size=(64, 64))
    state = torchvision_state(model, "ResNet-152")
    expected_names = resnet_keys("ResNet-152")[1]
    assert sorted(state) == sorted(expected_names)
    torch.save(state, tmp_path / "resnet152.pth")
    convert(
        [
            "--input",
            tmp_path / "resnet152.pth",
            "--model",
            "ResNet-152",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    images = random_images(batch=1, size=(64, 64), seed=4)
    expected = torch_logits(model, images)
    assert np.abs(logits_of(tmp_path / "out", images) - expected).max() <= TOLERANCE
