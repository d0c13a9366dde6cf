"""Hugging Face ViT (folders written by save_pretrained, .bin and .safetensors files, old and new
key names) -> converted checkpoint whose logits equal the PyTorch model's."""

import json

import numpy as np
import pytest
import safetensors.torch
import torch
from checkpoint_writers import hf_vit_keys, perturb_torch_model, random_images
from flax import traverse_util
from transformers import ViTConfig, ViTForImageClassification, ViTModel

from vit_jax import checkpoints, convert_checkpoint
from vit_jax.models import create_model

TOLERANCE = 1e-4
TI = dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768)


def convert(args: list[str]) -> None:
    assert convert_checkpoint.main([str(a) for a in args]) == 0


def torch_logits(model, images: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(images.transpose(0, 3, 1, 2)))


def our_logits(loaded: checkpoints.LoadedCheckpoint, images: np.ndarray, **changes) -> np.ndarray:
    meta = loaded.metadata
    overrides = {**meta["model_overrides"], **changes}
    model = create_model(meta["model"], num_classes=meta["num_classes"], **overrides)
    return np.asarray(model.apply(loaded.variables, images, train=False))


@pytest.mark.slow
def test_full_size_vit_b16_folder_matches_pytorch(tmp_path):
    """google/vit-base-patch16-224 layout: exact GELU, epsilon 1e-12, 1000 named classes."""
    names = {i: f"class {i}" for i in range(1000)}
    config = ViTConfig(id2label=names, label2id={v: k for k, v in names.items()})
    torch.manual_seed(0)
    reference = ViTForImageClassification(config)
    perturb_torch_model(reference, seed=0)
    reference.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2})
    )
    saved = safetensors.torch.load_file(tmp_path / "hf" / "model.safetensors")
    # the file has exactly the hub's on-disk names and shapes
    table = {row["hf"]: tuple(row["shape"]) for row in hf_vit_keys()}
    table = {k: v for k, v in table.items() if not k.startswith("pooler")}
    assert {k: tuple(v.shape) for k, v in saved.items()} == table

    convert(
        [
            "--input",
            tmp_path / "hf",
            "--model",
            "ViT-B_16",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    meta = loaded.metadata
    assert meta["model_overrides"] == {
        "gelu_approximate": False,
        "layer_norm_epsilon": 1e-12,
        "representation_size": None,
    }
    assert meta["label_names"] == [f"class {i}" for i in range(1000)]
    assert meta["preprocessing"] == {
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "resize_method": "bilinear",
    }
    assert meta["image_size"] == [224, 224] and meta["source_format"] == "hf_vit"
    flat = traverse_util.flatten_dict(loaded.variables, sep="/")
    query = saved["vit.encoder.layer.3.attention.attention.query.weight"].numpy()
    block = "params/Transformer/encoderblock_3/MultiHeadDotProductAttention_0"
    assert np.array_equal(flat[f"{block}/query/kernel"], query.T.reshape(768, 12, 64))

    images = random_images(batch=2, size=(224, 224), seed=1)
    expected = torch_logits(reference, images).logits.numpy()
    assert np.abs(expected).max() > 0.1
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


@pytest.fixture(scope="module")
def tiny_classifier():
    config = ViTConfig(**TI, image_size=32, patch_size=16, num_labels=4)
    torch.manual_seed(1)
    model = ViTForImageClassification(config)
    perturb_torch_model(model, seed=1)
    return model


def test_exact_gelu_matches_and_tanh_gelu_would_not(tmp_path, tiny_classifier):
    """hidden_act 'gelu' converts to exact GELU: the tanh approximation would miss the
    tolerance, so the comparison can tell the two apart."""
    tiny_classifier.save_pretrained(tmp_path / "hf")
    convert(
        [
            "--input",
            tmp_path / "hf" / "model.safetensors",
            "--model",
            "ViT-Ti_16",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    images = random_images(batch=4, size=(32, 32), seed=2)
    expected = torch_logits(tiny_classifier, images).logits.numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE
    wrong = our_logits(loaded, images, gelu_approximate=True)
    assert np.abs(wrong - expected).max() > TOLERANCE


def test_tanh_gelu_and_epsilon_come_from_config(tmp_path):
    config = ViTConfig(
        **TI,
        image_size=32,
        patch_size=16,
        num_labels=2,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
    )
    torch.manual_seed(3)
    reference = ViTForImageClassification(config)
    perturb_torch_model(reference, seed=3)
    reference.save_pretrained(tmp_path / "hf")
    convert(
        [
            "--input",
            tmp_path / "hf",
            "--model",
            "ViT-Ti_16",
            "--output",
            tmp_path / "out",
            "--keep_head",
        ]
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    assert loaded.metadata["model_overrides"]["gelu_approximate"] is True
    assert loaded.metadata["model_overrides"]["layer_norm_epsilon"] == 1e-6
    images = random_images(batch=2, size=(32, 32), seed=4)
    expected = torch_logits(reference, images).logits.numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


def test_new_transformers_in_memory_names_convert_identically(tmp_path, tiny_classifier):
    """transformers >= 5.9 module names (vit.layers.N.attention.q_proj...) give the same arrays
    as the on-disk names that save_pretrained writes."""
    tiny_classifier.save_pretrained(tmp_path / "disk")
    state = tiny_classifier.state_dict()
    assert "vit.layers.0.attention.q_proj.weight" in state
    (tmp_path / "memory").mkdir()
    safetensors.torch.save_file(
        {k: v.contiguous() for k, v in state.items()}, tmp_path / "memory" / "model.safetensors"
    )
    (tmp_path / "memory" / "config.json").write_text(
        (tmp_path / "disk" / "config.json").read_text()
    )
    for name in ("disk", "memory"):
        convert(
            [
                "--input",
                tmp_path / name,
                "--model",
                "ViT-Ti_16",
                "--output",
                tmp_path / f"out_{name}",
                "--keep_head",
            ]
        )
    disk = checkpoints.restore(directory=tmp_path / "out_disk").variables
    disk = traverse_util.flatten_dict(disk)
    memory = checkpoints.restore(directory=tmp_path / "out_memory").variables
    memory = traverse_util.flatten_dict(memory)
    assert disk.keys() == memory.keys()
    assert all(np.array_equal(disk[k], memory[k]) for k in disk)


def test_vit_model_bin_without_prefix_gives_encoder_features(tmp_path):
    """ViTModel (no 'vit.' prefix, pooler, no classifier; on-disk names) as pytorch_model.bin:
    with a new head the pooler (pre-logits) is dropped; an identity head then returns the class
    token features, which must equal HF's last_hidden_state[:, 0]."""
    config = ViTConfig(**TI, image_size=48, patch_size=16)
    torch.manual_seed(5)
    reference = ViTModel(config)
    perturb_torch_model(reference, seed=5)
    reference.save_pretrained(tmp_path / "hf")
    on_disk = safetensors.torch.load_file(tmp_path / "hf" / "model.safetensors")
    assert "encoder.layer.0.attention.attention.query.weight" in on_disk
    torch.save(on_disk, tmp_path / "hf" / "pytorch_model.bin")
    (tmp_path / "hf" / "model.safetensors").unlink()
    convert(
        [
            "--input",
            tmp_path / "hf",
            "--model",
            "ViT-Ti_16",
            "--output",
            tmp_path / "out",
            "--num_classes",
            "192",
        ]
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    assert "pre_logits" not in loaded.variables["params"]
    assert loaded.metadata["image_size"] == [48, 48]
    loaded.variables["params"]["head"]["kernel"] = np.eye(192, dtype=np.float32)
    images = random_images(batch=2, size=(48, 48), seed=6)
    expected = torch_logits(reference, images).last_hidden_state[:, 0].numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


def test_a_sharded_folder_converts_like_a_single_file(tmp_path, tiny_classifier, capsys):
    tiny_classifier.save_pretrained(tmp_path / "hf", max_shard_size="1MB")
    index = tmp_path / "hf" / "model.safetensors.index.json"
    shards = sorted((tmp_path / "hf").glob("model-*.safetensors"))
    assert index.is_file() and len(shards) > 1
    args = ["--input", tmp_path / "hf", "--model", "ViT-Ti_16", "--keep_head"]
    convert([*args, "--output", tmp_path / "out"])
    loaded = checkpoints.load(directory=tmp_path / "out")
    images = random_images(batch=2, size=(32, 32), seed=5)
    expected = torch_logits(tiny_classifier, images).logits.numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE

    shards[-1].unlink()
    assert convert_checkpoint.main([str(a) for a in [*args, "--output", tmp_path / "again"]]) == 1
    error = capsys.readouterr().err
    assert f"{index} lists {shards[-1].name}, which is not in {tmp_path / 'hf'}" in error
