"""Original ViT .npz -> converted checkpoint: exact values, metadata, and logits equal to Hugging
Face's PyTorch ViT loaded with the same .npz through the transforms of
tests/data/hf_vit_b16_keys.json."""

import hashlib
import json

import numpy as np
import pytest
import torch
from checkpoint_writers import (
    npz_layout,
    npz_to_hf_vit,
    random_arrays,
    random_images,
    small_vit_layout,
    torch_bilinear,
)
from transformers import ViTConfig, ViTForImageClassification, ViTModel

from vit_jax import checkpoints, convert_checkpoint
from vit_jax.checkpoints.formats import vit_npz
from vit_jax.checkpoints.formats.detect import open_checkpoint
from vit_jax.checkpoints.formats.fit import check_fits, expected_shapes
from vit_jax.models import create_model

TOLERANCE = 1e-4
POS_EMBEDDING = "Transformer/posembed_input/pos_embedding"
# Pre-Linen -> Linen module numbering in an encoder block (tests/data/README.md).
LINEN = {
    "MultiHeadDotProductAttention_1": "MultiHeadDotProductAttention_0",
    "LayerNorm_2": "LayerNorm_1",
    "MlpBlock_3": "MlpBlock_0",
}


def linen_name(npz_key: str) -> str:
    for old, new in LINEN.items():
        npz_key = npz_key.replace(old, new)
    return npz_key


def hf_config(*, hidden: int, layers: int, heads: int, mlp: int, image: int) -> ViTConfig:
    """HF ViT configured like the original Flax model: tanh GELU, LayerNorm epsilon 1e-6."""
    return ViTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=mlp,
        image_size=image,
        patch_size=16,
        hidden_act="gelu_pytorch_tanh",
        layer_norm_eps=1e-6,
    )


def flat_restored(directory) -> dict[str, np.ndarray]:
    from flax import traverse_util

    return traverse_util.flatten_dict(checkpoints.restore(directory=directory).variables, sep="/")


def our_logits(directory, images: np.ndarray) -> np.ndarray:
    loaded = checkpoints.load(directory=directory)
    meta = loaded.metadata
    model = create_model(meta["model"], num_classes=meta["num_classes"], **meta["model_overrides"])
    return np.asarray(model.apply(loaded.variables, images, train=False))


@pytest.mark.slow
def test_full_size_imagenet21k_vit_b16_converts_exactly_and_matches_hf(tmp_path, capsys):
    """gs://vit_models/imagenet21k/ViT-B_16.npz layout (202 arrays, pre-logits, 21843 head)."""
    shapes = npz_layout("ViT-B_16 imagenet21k")
    arrays = random_arrays(shapes, seed=0)
    npz = tmp_path / "ViT-B_16.npz"
    np.savez(npz, **arrays)
    out = tmp_path / "vit-b16"
    assert (
        convert_checkpoint.main(
            ["--input", str(npz), "--model", "ViT-B_16", "--output", str(out), "--keep_head"]
        )
        == 0
    )
    assert "vit_npz" in capsys.readouterr().out

    restored = flat_restored(out)
    assert len(restored) == len(shapes) == 202
    for key, array in arrays.items():
        got = restored[f"params/{linen_name(key)}"]
        assert got.dtype == np.float32 and np.array_equal(got, array), key
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["source_format"] == "vit_npz" and meta["image_size"] == [224, 224]
    assert meta["num_classes"] == 21843 and meta["head_kept"] is True
    assert meta["model_overrides"] == {
        "gelu_approximate": True,
        "layer_norm_epsilon": 1e-6,
        "representation_size": 768,
    }
    assert meta["preprocessing"]["value_range"] == [-1, 1]

    images = random_images(batch=2, size=(224, 224), seed=1)
    reference = ViTModel(hf_config(hidden=768, layers=12, heads=12, mlp=3072, image=224)).eval()
    state = npz_to_hf_vit(arrays, hidden=768, with_vit_prefix=False, in_memory=True)
    head_w, head_b = state.pop("classifier.weight"), state.pop("classifier.bias")
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    with torch.no_grad():
        pooled = reference(torch.from_numpy(images.transpose(0, 3, 1, 2))).pooler_output.numpy()
    expected = pooled @ head_w.T + head_b
    ours = our_logits(out, images)
    assert np.abs(expected).max() > 0.1
    assert np.abs(ours - expected).max() <= TOLERANCE


def write_small_npz(path, *, seed: int, pre_logits: bool, prefix: str = "") -> dict:
    shapes = small_vit_layout(
        layers=12, hidden=192, mlp=768, heads=3, tokens=1 + 2 * 2, classes=10, pre_logits=pre_logits
    )
    arrays = random_arrays(shapes, seed=seed)
    np.savez(path, **{prefix + k: v for k, v in arrays.items()})
    return arrays


@pytest.mark.parametrize("prefix", ["", "opt/target/"])
def test_imagenet2012_layout_matches_hf_classifier(tmp_path, prefix):
    """imagenet21k+imagenet2012 layout (no pre-logits, fine-tuned head), ViT-Ti/16 widths at
    32x32; also with the 'opt/target/' prefix of older files."""
    arrays = write_small_npz(tmp_path / "ti.npz", seed=2, pre_logits=False, prefix=prefix)
    out = tmp_path / "out"
    convert_checkpoint.main(
        [
            "--input",
            str(tmp_path / "ti.npz"),
            "--model",
            "ViT-Ti_16",
            "--output",
            str(out),
            "--keep_head",
        ]
    )
    meta = checkpoints.restore(directory=out).metadata
    assert meta["image_size"] == [32, 32] and meta["model_overrides"]["representation_size"] is None
    images = random_images(batch=3, size=(32, 32), seed=3)
    config = hf_config(hidden=192, layers=12, heads=3, mlp=768, image=32)
    reference = ViTForImageClassification(config.__class__(**config.to_dict(), num_labels=10))
    state = npz_to_hf_vit(arrays, hidden=192, with_vit_prefix=True, in_memory=True)
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits.numpy()
    ours = our_logits(out, images)
    assert np.abs(expected).max() > 0.1
    assert np.abs(ours - expected).max() <= TOLERANCE


def test_new_head_and_image_size(tmp_path):
    """--num_classes: zero head, pre-logits dropped; --image_size 64,48: position embedding
    interpolated from the 2x2 grid to 4x3 (class row kept); everything else unchanged."""
    arrays = write_small_npz(tmp_path / "i21k.npz", seed=4, pre_logits=True)
    out = tmp_path / "out"
    convert_checkpoint.main(
        [
            "--input",
            str(tmp_path / "i21k.npz"),
            "--model",
            "ViT-Ti_16",
            "--output",
            str(out),
            "--num_classes",
            "3",
            "--image_size",
            "64,48",
        ]
    )
    restored = flat_restored(out)
    assert not any(k.startswith("params/pre_logits") for k in restored)
    assert (
        restored["params/head/kernel"].shape == (192, 3)
        and not restored["params/head/kernel"].any()
    )
    assert not restored["params/head/bias"].any()
    meta = checkpoints.restore(directory=out).metadata
    assert meta["num_classes"] == 3 and meta["head_kept"] is False
    assert meta["model_overrides"]["representation_size"] is None
    assert meta["image_size"] == [64, 48] and meta["label_names"] is None
    assert meta["sha256"] == hashlib.sha256((tmp_path / "i21k.npz").read_bytes()).hexdigest()
    assert meta["source_file"] == str((tmp_path / "i21k.npz").absolute())
    source_pos = arrays[POS_EMBEDDING]
    pos_embedding = restored[f"params/{POS_EMBEDDING}"]
    assert pos_embedding.shape == (1, 1 + 4 * 3, 192)
    assert np.array_equal(pos_embedding[:, 0], source_pos[:, 0])
    np.testing.assert_allclose(
        pos_embedding[0, 1:], torch_bilinear(source_pos, (2, 2), (4, 3)), atol=1e-5
    )
    body = {
        k: v for k, v in arrays.items() if not k.startswith(("head", "pre_logits", POS_EMBEDDING))
    }
    for key, array in body.items():
        assert np.array_equal(restored[f"params/{linen_name(key)}"], array), key


def test_kept_all_zero_imagenet21k_head_is_reported(tmp_path, capsys):
    arrays = write_small_npz(tmp_path / "i21k.npz", seed=6, pre_logits=True)
    arrays["head/kernel"][:] = 0
    arrays["head/bias"][:] = 0
    np.savez(tmp_path / "i21k.npz", **arrays)
    convert_checkpoint.main(
        [
            "--input",
            str(tmp_path / "i21k.npz"),
            "--model",
            "ViT-Ti_16",
            "--output",
            str(tmp_path / "out"),
            "--keep_head",
        ]
    )
    assert "is all zeros" in capsys.readouterr().out
    meta = checkpoints.restore(directory=tmp_path / "out").metadata
    assert meta["head_kept"] is True and meta["model_overrides"]["representation_size"] == 192


@pytest.mark.slow
def test_hybrid_r50_vit_b16_layout_fits_model_with_groupnorm_squeezed(tmp_path):
    """imagenet21k/R50+ViT-B_16.npz layout: GroupNorm params stored (1,1,1,C) come out (C,)."""
    shapes = npz_layout("R50+ViT-B_16 imagenet21k")
    shapes["head/kernel"], shapes["head/bias"] = (768, 10), (10,)
    arrays = random_arrays(shapes, seed=5)
    np.savez(tmp_path / "hybrid.npz", **arrays)
    source = vit_npz.read(
        opened=open_checkpoint(path=tmp_path / "hybrid.npz"), model="R50+ViT-B_16"
    )
    expected = expected_shapes(
        model="R50+ViT-B_16",
        num_classes=10,
        image_size=(224, 224),
        overrides=source.model_overrides,
    )
    check_fits(
        variables=source.variables,
        expected=expected,
        source_names=source.source_names,
        file=source.weights_file,
        model="R50+ViT-B_16",
    )
    assert set(source.variables) == set(expected)
    assert shapes["gn_root/scale"] == (1, 1, 1, 64)
    assert np.array_equal(source.variables["params/gn_root/scale"], arrays["gn_root/scale"].ravel())
    for key, array in arrays.items():
        assert np.array_equal(source.variables[f"params/{linen_name(key)}"].ravel(), array.ravel())
