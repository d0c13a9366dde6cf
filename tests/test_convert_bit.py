"""BiT .npz (BiT-M-R50x1 layout) -> converted checkpoint whose logits equal Hugging Face's
PyTorch BitForImageClassification loaded with the same arrays."""

import json
import re

import numpy as np
import torch
from checkpoint_writers import npz_layout, random_arrays, random_images
from flax import traverse_util
from transformers import BitConfig, BitForImageClassification
from transformers.models.bit.modeling_bit import WeightStandardizedConv2d

from vit_jax import checkpoints, convert_checkpoint
from vit_jax.models import create_model

TOLERANCE = 1e-4
BIT_WEIGHT_EPSILON = 1e-10  # bit_npz_notes.txt: weight standardisation epsilon on the variance
CLASSES = 10
# BiT unit sub-layer -> HF BitPreActivationBottleneckLayer index (bit_npz_notes.txt: a, b, c)
SUB_LAYER = {"a": "1", "b": "2", "c": "3"}


def hf_bit_name(key: str) -> str:
    """The HF Bit state-dict name of a BiT .npz key (written from the two models' definitions)."""
    norm = {"gamma": "weight", "beta": "bias"}
    if key == "resnet/root_block/standardized_conv2d/kernel":
        return "bit.embedder.convolution.weight"
    if m := re.fullmatch(r"resnet/group_norm/(gamma|beta)", key):
        return f"bit.norm.{norm[m[1]]}"
    if m := re.fullmatch(r"resnet/head/conv2d/(kernel|bias)", key):
        return f"classifier.1.{'weight' if m[1] == 'kernel' else 'bias'}"
    m = re.fullmatch(r"resnet/block(\d)/unit(\d\d)/(.*)", key)
    layer = f"bit.encoder.stages.{int(m[1]) - 1}.layers.{int(m[2]) - 1}"
    if m[3] == "a/proj/standardized_conv2d/kernel":
        return f"{layer}.downsample.conv.weight"
    sub, rest = m[3].split("/", 1)
    if rest == "standardized_conv2d/kernel":
        return f"{layer}.conv{SUB_LAYER[sub]}.weight"
    return f"{layer}.norm{SUB_LAYER[sub]}.{norm[rest.split('/')[1]]}"


def to_torch(key: str, array: np.ndarray) -> torch.Tensor:
    if key == "resnet/head/conv2d/kernel":
        return torch.from_numpy(np.ascontiguousarray(array[0, 0].T))
    if array.ndim == 4:
        return torch.from_numpy(np.ascontiguousarray(array.transpose(3, 2, 0, 1)))
    return torch.from_numpy(array)


def timm_bit_name(hf_name: str) -> str:
    """The timm ResNetV2 (resnetv2_50x1_bit) name of a Hugging Face Bit state-dict name."""
    name = hf_name.removeprefix("bit.")
    name = name.replace("embedder.convolution", "stem.conv").replace("classifier.1", "head.fc")
    return re.sub(r"encoder\.stages\.(\d+)\.layers\.", r"stages.\1.blocks.", name)


def test_bit_m_r50x1_npz_matches_hf_bit(tmp_path):
    shapes = npz_layout("BiT-M-R50x1")
    assert len(shapes) == 153
    shapes["resnet/head/conv2d/kernel"] = (1, 1, 2048, CLASSES)
    shapes["resnet/head/conv2d/bias"] = (CLASSES,)
    arrays = random_arrays(shapes, seed=0)
    np.savez(tmp_path / "BiT-M-R50x1.npz", **arrays)
    assert (
        convert_checkpoint.main(
            [
                "--input",
                str(tmp_path / "BiT-M-R50x1.npz"),
                "--model",
                "BiT-R50x1",
                "--output",
                str(tmp_path / "out"),
                "--keep_head",
            ]
        )
        == 0
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    meta = loaded.metadata
    assert meta["source_format"] == "bit_npz" and meta["num_classes"] == CLASSES
    assert meta["preprocessing"]["value_range"] == [-1, 1]
    flat = traverse_util.flatten_dict(loaded.variables, sep="/")
    assert np.array_equal(
        flat["params/block2/unit1/conv_proj/kernel"],
        arrays["resnet/block2/unit01/a/proj/standardized_conv2d/kernel"],
    )
    assert np.array_equal(flat["params/norm/scale"], arrays["resnet/group_norm/gamma"])

    config = BitConfig(layer_type="preactivation", depths=[3, 4, 6, 3], num_labels=CLASSES)
    reference = BitForImageClassification(config).eval()
    state = {hf_bit_name(k): to_torch(k, v) for k, v in arrays.items()}
    reference.load_state_dict(state, strict=True)
    for module in reference.modules():  # HF uses 1e-8; original BiT (bit_jax, bit_pytorch) 1e-10
        if isinstance(module, WeightStandardizedConv2d):
            module.eps = BIT_WEIGHT_EPSILON
    # Reference in float64: with random weights this network amplifies float32 rounding, so that
    # HF's own float32 logits already differ from its float64 ones by ~3e-5 (4e-5 relative).
    images = random_images(batch=2, size=(96, 96), seed=1)
    with torch.no_grad():
        pixels = torch.from_numpy(images.transpose(0, 3, 1, 2)).double()
        expected = reference.double()(pixels).logits.numpy()
    model = create_model("BiT-R50x1", num_classes=CLASSES, **meta["model_overrides"])
    ours = np.asarray(model.apply(loaded.variables, images, train=False))
    assert np.abs(expected).max() > 0.1
    assert np.abs(ours - expected).max() <= TOLERANCE

    # The same weights as a timm hub folder (timm's names, its pretrained_cfg), no --model.
    timm = {timm_bit_name(k): v for k, v in reference.float().state_dict().items()}
    timm["head.fc.weight"] = timm["head.fc.weight"][:, :, None, None]
    (tmp_path / "timm").mkdir()
    torch.save(timm, tmp_path / "timm" / "pytorch_model.bin")
    cfg = {"input_size": [3, 96, 96], "interpolation": "bilinear", "crop_pct": 1.0}
    cfg |= {"mean": [0.5] * 3, "std": [0.5] * 3}
    config = {"architecture": "resnetv2_50x1_bit", "num_classes": CLASSES, "pretrained_cfg": cfg}
    (tmp_path / "timm" / "config.json").write_text(json.dumps(config))
    args = ["--input", tmp_path / "timm", "--output", tmp_path / "from_timm", "--keep_head"]
    assert convert_checkpoint.main([str(a) for a in args]) == 0
    from_timm = checkpoints.load(directory=tmp_path / "from_timm")
    assert from_timm.metadata["model"] == "BiT-R50x1"
    assert from_timm.metadata["source_format"] == "timm_bit"
    assert from_timm.metadata["preprocessing"]["resize_shortest_edge"] == 96
    again = np.asarray(model.apply(from_timm.variables, images, train=False))
    assert np.abs(again - expected).max() <= TOLERANCE
