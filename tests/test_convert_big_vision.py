"""big_vision ViT .npz files (params/ prefix, position embedding before the class token, the
scanned encoder's stacked arrays) -> converted checkpoints whose logits equal the reference model's:
a Hugging Face ViT with Flax's tanh GELU and epsilon 1e-6, written in big_vision's layout. The
global-average-pooling variant is measured against timm's (tests/data/torch_references)."""

import numpy as np
import pytest
import torch
from checkpoint_writers import perturb_torch_model, random_images
from flax import traverse_util
from test_convert_hf_vit import our_logits, torch_logits
from transformers import ViTConfig, ViTForImageClassification

from vit_jax import checkpoints, convert_checkpoint

TOLERANCE = 1e-4
TI = dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """(HF model, its converted variables flattened with '/')."""
    config = ViTConfig(
        **TI,
        image_size=32,
        patch_size=16,
        num_labels=4,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
    )
    torch.manual_seed(5)
    model = ViTForImageClassification(config)
    perturb_torch_model(model, seed=5)
    folder = tmp_path_factory.mktemp("hf")
    model.save_pretrained(folder / "hf")
    args = ["--input", folder / "hf", "--output", folder / "ours", "--keep_head"]
    assert convert_checkpoint.main([str(a) for a in args]) == 0
    variables = checkpoints.load(directory=folder / "ours").variables
    return model, traverse_util.flatten_dict(variables["params"], sep="/")


def big_vision_arrays(flat: dict, *, scanned: bool) -> dict[str, np.ndarray]:
    """The parameters as big_vision saves them: its class token carries the embedding's first
    row (it gets no position embedding of its own)."""
    arrays = {f"params/{k}": np.asarray(v) for k, v in flat.items()}
    position = arrays.pop("params/Transformer/posembed_input/pos_embedding")
    arrays["params/cls"] = arrays["params/cls"] + position[:, :1]
    arrays["params/pos_embedding"] = position[:, 1:]
    if scanned:
        depth = len({k.split("/")[2] for k in arrays if "/encoderblock_" in k})
        blocks = [f"encoderblock_{i}" for i in range(depth)]
        leaves = {
            k.split("/", 3)[3] for k in arrays if k.startswith("params/Transformer/encoderblock_0/")
        }
        for leaf in leaves:
            stacked = [arrays.pop(f"params/Transformer/{block}/{leaf}") for block in blocks]
            arrays[f"params/Transformer/encoderblock/{leaf}"] = np.stack(stacked)
    return arrays


@pytest.mark.parametrize("scanned", [False, True])
def test_a_big_vision_npz_gives_the_reference_logits(tmp_path, reference, scanned):
    model, flat = reference
    np.savez(tmp_path / "bv.npz", **big_vision_arrays(flat, scanned=scanned))
    args = ["--input", tmp_path / "bv.npz", "--model", "ViT-Ti_16", "--output", tmp_path / "out"]
    assert convert_checkpoint.main([str(a) for a in [*args, "--keep_head"]]) == 0
    loaded = checkpoints.load(directory=tmp_path / "out")
    meta = loaded.metadata
    assert (
        meta["source_format"] == "big_vision" and meta["model_overrides"]["classifier"] == "token"
    )
    assert meta["preprocessing"] == {"value_range": [-1, 1], "resize_method": "bilinear"}
    images = random_images(batch=3, size=(32, 32), seed=7)
    expected = torch_logits(model, images).logits.numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


def test_a_big_vision_gap_model_converts_and_resizes_without_a_class_row(tmp_path, reference):
    _, flat = reference
    arrays = big_vision_arrays(flat, scanned=False)
    del arrays["params/cls"]
    np.savez(tmp_path / "gap.npz", **arrays)
    args = ["--input", tmp_path / "gap.npz", "--model", "ViT-Ti_16", "--output", tmp_path / "out"]
    assert (
        convert_checkpoint.main(
            [str(a) for a in [*args, "--num_classes", "3", "--image_size", "48"]]
        )
        == 0
    )
    loaded = checkpoints.load(directory=tmp_path / "out")
    assert loaded.metadata["model_overrides"]["classifier"] == "gap"
    params = loaded.variables["params"]
    assert "cls" not in params
    assert params["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 9, 192)  # 3x3
    logits = our_logits(loaded, random_images(batch=2, size=(48, 48), seed=8))
    assert logits.shape == (2, 3) and np.all(logits == 0)  # the new head is zero


def test_a_map_head_is_named(tmp_path, reference, capsys):
    _, flat = reference
    arrays = big_vision_arrays(flat, scanned=False)
    arrays["params/MAPHead_0/probe"] = np.zeros((1, 1, 192), np.float32)
    np.savez(tmp_path / "map.npz", **arrays)
    args = ["--input", tmp_path / "map.npz", "--model", "ViT-Ti_16", "--output", tmp_path / "out"]
    assert convert_checkpoint.main([str(a) for a in [*args, "--keep_head"]]) == 1
    assert "is a big_vision ViT with a MAP head (attention pooling)" in capsys.readouterr().err
