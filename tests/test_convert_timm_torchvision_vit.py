"""timm ViT state dicts (.pth, .bin, .safetensors), timm hub folders and torchvision ViT .pth
files -> converted checkpoints whose logits equal the reference model's: a Hugging Face ViT with
their exact GELU and LayerNorm epsilon 1e-6, its weights written under timm's or torchvision's
names (q, k, v fused into one projection). Measured against timm and torchvision themselves:
tests/data/torch_references/ (its measure.py and measured.json)."""

import json

import numpy as np
import pytest
import safetensors.torch
import torch
from checkpoint_writers import perturb_torch_model, random_images
from test_convert_hf_vit import our_logits, torch_logits
from transformers import ViTConfig, ViTForImageClassification

from vit_jax import checkpoints, convert_checkpoint
from vit_jax.checkpoints.formats import torchvision_vit

TOLERANCE = 1e-4
TI = dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768)
# timm's pretrained_cfg of vit_tiny_patch16_224.augreg_in21k_ft_in1k, at 32 pixels.
PRETRAINED_CFG = {
    "input_size": [3, 32, 32],
    "interpolation": "bicubic",
    "crop_pct": 0.9,
    "crop_mode": "center",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "num_classes": 4,
}


def timm_state(model: ViTForImageClassification) -> dict[str, torch.Tensor]:
    """The model's weights under timm's VisionTransformer names."""
    hf = {k.removeprefix("vit."): v for k, v in model.state_dict().items()}
    state = {
        "cls_token": hf["embeddings.cls_token"],
        "pos_embed": hf["embeddings.position_embeddings"],
        "patch_embed.proj.weight": hf["embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": hf["embeddings.patch_embeddings.projection.bias"],
        "norm.weight": hf["layernorm.weight"],
        "norm.bias": hf["layernorm.bias"],
        "head.weight": hf["classifier.weight"],
        "head.bias": hf["classifier.bias"],
    }
    for i in range(model.config.num_hidden_layers):
        layer, block = f"layers.{i}.", f"blocks.{i}."
        for leaf in ("weight", "bias"):
            state[block + "attn.qkv." + leaf] = torch.cat(
                [hf[f"{layer}attention.{p}_proj.{leaf}"] for p in "qkv"]
            )
            renamed = {
                "norm1": "layernorm_before",
                "norm2": "layernorm_after",
                "attn.proj": "attention.o_proj",
                "mlp.fc1": "mlp.fc1",
                "mlp.fc2": "mlp.fc2",
            }
            for timm_name, hf_name in renamed.items():
                state[f"{block}{timm_name}.{leaf}"] = hf[f"{layer}{hf_name}.{leaf}"]
    return {k: v.contiguous() for k, v in state.items()}


def torchvision_state(model: ViTForImageClassification) -> dict[str, torch.Tensor]:
    """The model's weights under torchvision's VisionTransformer names."""
    renamed = {
        "cls_token": "class_token",
        "pos_embed": "encoder.pos_embedding",
        "patch_embed.proj": "conv_proj",
        "norm": "encoder.ln",
        "head": "heads.head",
    }
    block = {"norm1": "ln_1", "norm2": "ln_2", "attn.proj": "self_attention.out_proj"}
    block |= {"mlp.fc1": "mlp.0", "mlp.fc2": "mlp.3", "attn.qkv": "self_attention.in_proj"}
    state = {}
    for key, value in timm_state(model).items():
        if key.startswith("blocks."):
            _, index, rest = key.split(".", 2)
            module, leaf = rest.rsplit(".", 1)
            name = block[module]
            name = f"{name}_{leaf}" if name.endswith("in_proj") else f"{name}.{leaf}"
            state[f"encoder.layers.encoder_layer_{index}.{name}"] = value
        else:
            module, _, leaf = key.rpartition(".") if "." in key else (key, "", "")
            state[".".join(filter(None, [renamed[module], leaf]))] = value
    return state


@pytest.fixture(scope="module")
def reference():
    config = ViTConfig(
        **TI, image_size=32, patch_size=16, num_labels=4, hidden_act="gelu", layer_norm_eps=1e-6
    )
    torch.manual_seed(3)
    model = ViTForImageClassification(config)
    perturb_torch_model(model, seed=3)
    return model


def convert(source, output, *extra) -> checkpoints.LoadedCheckpoint:
    args = ["--input", source, "--model", "ViT-Ti_16", "--output", output, *extra]
    assert convert_checkpoint.main([str(a) for a in args]) == 0
    return checkpoints.load(directory=output)


@pytest.mark.parametrize("container", ["safetensors", "bin", "pth"])
def test_a_timm_state_dict_in_any_container_gives_the_reference_logits(
    tmp_path, reference, container
):
    state = timm_state(reference)
    file = tmp_path / f"vit.{container}"
    if container == "safetensors":
        safetensors.torch.save_file(state, file)
    else:
        torch.save(state, file)
    loaded = convert(file, tmp_path / "out", "--keep_head")
    meta = loaded.metadata
    assert meta["source_format"] == "timm_vit"
    assert meta["model_overrides"] == {
        "gelu_approximate": False,
        "layer_norm_epsilon": 1e-6,
        "representation_size": None,
    }
    assert meta["image_size"] == [32, 32]  # read off the position embedding's grid
    images = random_images(batch=3, size=(32, 32), seed=4)
    expected = torch_logits(reference, images).logits.numpy()
    assert np.abs(expected).max() > 0.5
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


def test_a_timm_hub_folder_brings_its_preprocessing_and_class_names(tmp_path, reference):
    folder = tmp_path / "hub"
    folder.mkdir()
    safetensors.torch.save_file(timm_state(reference), folder / "model.safetensors")
    config = {
        "architecture": "vit_tiny_patch16_224",
        "num_classes": 4,
        "num_features": 192,
        "global_pool": "token",
        "label_names": ["boot", "sandal", "shoe", "slipper"],
        "pretrained_cfg": PRETRAINED_CFG,
    }
    (folder / "config.json").write_text(json.dumps(config))
    meta = convert(folder, tmp_path / "out", "--keep_head").metadata
    assert meta["label_names"] == ["boot", "sandal", "shoe", "slipper"]
    assert meta["preprocessing"] == {
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "resize_method": "bicubic",
        "resize_shortest_edge": 35,  # floor(32 / 0.9)
        "crop_size": 32,
        "crop_offset": "round",
    }


@pytest.mark.parametrize(
    ("extra_key", "said"),
    [
        ("fc_norm.weight", "global average pooling (global_pool='avg')"),
        ("reg_token", "register tokens"),
        ("blocks.0.ls1.gamma", "layer scale"),
    ],
)
def test_timm_variants_the_zoo_lacks_are_named(tmp_path, reference, capsys, extra_key, said):
    state = timm_state(reference)
    state[extra_key] = torch.zeros(192)
    safetensors.torch.save_file(state, tmp_path / "vit.safetensors")
    args = ["--input", tmp_path / "vit.safetensors", "--model", "ViT-Ti_16"]
    args += ["--output", tmp_path / "out", "--keep_head"]
    assert convert_checkpoint.main([str(a) for a in args]) == 1
    error = capsys.readouterr().err
    assert f"is a timm ViT with {said}, which the model zoo does not have" in error
    assert len(error.strip().splitlines()) == 1


def test_a_torchvision_vit_gives_the_reference_logits_and_its_documented_transform(
    tmp_path, reference
):
    torch.save(torchvision_state(reference), tmp_path / "vit_b_16.pth")
    loaded = convert(tmp_path / "vit_b_16.pth", tmp_path / "out", "--keep_head")
    meta = loaded.metadata
    assert meta["source_format"] == "torchvision_vit" and meta["image_size"] == [32, 32]
    assert meta["model_overrides"]["gelu_approximate"] is False
    assert meta["preprocessing"]["resize_method"] == "bicubic"  # not 224: SWAG's transform
    images = random_images(batch=3, size=(32, 32), seed=6)
    expected = torch_logits(reference, images).logits.numpy()
    assert np.abs(our_logits(loaded, images) - expected).max() <= TOLERANCE


def test_torchvision_vit_at_224_gets_the_imagenet1k_v1_transform():
    assert torchvision_vit.preprocessing(model="ViT-B_16", image_size=224) == {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize_method": "bilinear",
        "resize_shortest_edge": 256,
        "crop_size": 224,
    }
    assert (
        torchvision_vit.preprocessing(model="ViT-L_16", image_size=224)["resize_shortest_edge"]
        == 242
    )
