"""Bad input to python -m vit_jax.convert_checkpoint: a clear message naming the fault, exit
status 1, and nothing written to --output (no partial or staging folders either)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from transformers import ViTConfig, ViTForImageClassification

from vit_jax import convert_checkpoint
from vit_jax.checkpoints.formats.detect import FORMATS

TI = dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768)


@pytest.fixture(scope="module")
def hf_vit_ti(tmp_path_factory) -> Path:
    """A Hugging Face ViT-Ti/16 folder (save_pretrained) at 32x32 with 4 classes."""
    folder = tmp_path_factory.mktemp("hf") / "vit-ti"
    torch.manual_seed(0)
    ViTForImageClassification(ViTConfig(**TI, image_size=32, num_labels=4)).save_pretrained(folder)
    return folder


def copy_folder(source: Path, target: Path, *, arrays=None) -> Path:
    """A copy of an HF folder, optionally with other weight arrays."""
    target.mkdir()
    (target / "config.json").write_text((source / "config.json").read_text())
    if arrays is None:
        arrays = safetensors.numpy.load_file(source / "model.safetensors")
    safetensors.numpy.save_file(arrays, target / "model.safetensors")
    return target


def fails(tmp_path, capsys, args: list, *, output: Path | None = None) -> str:
    """Runs the converter expecting failure; returns its message after checking no output."""
    output = output or tmp_path / "out"
    status = convert_checkpoint.main([str(a) for a in [*args, "--output", output]])
    message = capsys.readouterr().err
    assert status == 1 and message.startswith("convert_checkpoint: error: ")
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if ".partial-" in p.name]
    return message


def test_unknown_format(tmp_path, capsys):
    (tmp_path / "weights.dat").write_bytes(np.random.default_rng(0).bytes(1000))
    message = fails(
        tmp_path,
        capsys,
        ["--input", tmp_path / "weights.dat", "--model", "ViT-B_16", "--num_classes", "3"],
    )
    assert "weights.dat: unknown checkpoint format" in message


def test_format_option_reads_a_file_detection_cannot_place(tmp_path, capsys):
    np.savez(tmp_path / "vit.npz", **{"Encoder/encoder_norm/scale": np.ones(192, np.float32)})
    message = fails(
        tmp_path,
        capsys,
        [
            "--input",
            tmp_path / "vit.npz",
            "--model",
            "BiT-R50x1",
            "--format",
            "bit_npz",
            "--num_classes",
            "3",
        ],
    )
    assert "that a BiT .npz checkpoint does not have" in message
    assert "Encoder/encoder_norm/scale" in message


def test_a_format_option_that_contradicts_the_file_names_both(tmp_path, capsys, hf_vit_ti):
    args = ["--input", hf_vit_ti, "--model", "ViT-Ti_16", "--format", "vit_npz", "--keep_head"]
    message = fails(tmp_path, capsys, args)
    assert message.strip().endswith(
        "holds a hf_vit checkpoint (key 'vit.embeddings.patch_embeddings.projection.bias'), not "
        "vit_npz; leave --format out or give --format hf_vit"
    )


def test_truncated_npz(tmp_path, capsys):
    np.savez(tmp_path / "ViT-B_16.npz", cls=np.zeros((1, 1, 768), np.float32))
    data = (tmp_path / "ViT-B_16.npz").read_bytes()
    (tmp_path / "ViT-B_16.npz").write_bytes(data[: len(data) // 2])
    message = fails(
        tmp_path,
        capsys,
        ["--input", tmp_path / "ViT-B_16.npz", "--model", "ViT-B_16", "--num_classes", "3"],
    )
    assert "ViT-B_16.npz is not a readable .npz file (truncated or corrupt?)" in message


def test_truncated_safetensors(tmp_path, capsys, hf_vit_ti):
    folder = copy_folder(hf_vit_ti, tmp_path / "hf")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) - 1000])
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-Ti_16", "--keep_head"])
    assert "model.safetensors is not a readable .safetensors file" in message


def test_truncated_pytorch_file(tmp_path, capsys):
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "resnet50.pth")
    data = (tmp_path / "resnet50.pth").read_bytes()
    (tmp_path / "resnet50.pth").write_bytes(data[: len(data) // 2])
    message = fails(
        tmp_path,
        capsys,
        ["--input", tmp_path / "resnet50.pth", "--model", "ResNet-50", "--keep_head"],
    )
    assert "resnet50.pth" in message and "truncated or corrupt" in message


def test_pytorch_file_without_torch_says_how_to_install(tmp_path, capsys, monkeypatch):
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "resnet50.pth")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    message = fails(
        tmp_path,
        capsys,
        ["--input", tmp_path / "resnet50.pth", "--model", "ResNet-50", "--keep_head"],
    )
    assert "needs PyTorch" in message and "pip install torch" in message


def test_file_of_another_model_size(tmp_path, capsys, hf_vit_ti):
    folder = copy_folder(hf_vit_ti, tmp_path / "hf")  # its config claims ViT-B/16 sizes
    config = json.loads((folder / "config.json").read_text())
    config |= {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12}
    (folder / "config.json").write_text(json.dumps(config))
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-B_16", "--keep_head"])
    assert "does not fit ViT-B_16" in message
    assert "has shape (192,), ViT-B_16 needs (768,)" in message


def test_file_with_more_layers_than_the_model(tmp_path, capsys):
    deeper = {**TI, "num_hidden_layers": 13}
    ViTForImageClassification(ViTConfig(**deeper, image_size=32)).save_pretrained(tmp_path / "hf")
    config = json.loads((tmp_path / "hf" / "config.json").read_text())  # claims 12 layers
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config | {"num_hidden_layers": 12}))
    capsys.readouterr()  # drop the progress bar that save_pretrained writes
    message = fails(
        tmp_path, capsys, ["--input", tmp_path / "hf", "--model", "ViT-Ti_16", "--num_classes", "2"]
    )
    assert "ViT-Ti_16 has no place for" in message and "vit.encoder.layer.12." in message


def test_missing_key(tmp_path, capsys, hf_vit_ti):
    arrays = safetensors.numpy.load_file(hf_vit_ti / "model.safetensors")
    del arrays["vit.encoder.layer.3.layernorm_before.weight"]
    folder = copy_folder(hf_vit_ti, tmp_path / "hf", arrays=arrays)
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-Ti_16", "--keep_head"])
    assert "lacks 1 array(s)" in message
    assert "params/Transformer/encoderblock_3/LayerNorm_0/scale" in message


def test_mis_shaped_key(tmp_path, capsys, hf_vit_ti):
    arrays = safetensors.numpy.load_file(hf_vit_ti / "model.safetensors")
    arrays["vit.encoder.layer.0.output.dense.bias"] = np.zeros(191, np.float32)
    folder = copy_folder(hf_vit_ti, tmp_path / "hf", arrays=arrays)
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-Ti_16", "--keep_head"])
    assert "'vit.encoder.layer.0.output.dense.bias' has shape (191,)" in message


def test_unknown_key(tmp_path, capsys, hf_vit_ti):
    arrays = safetensors.numpy.load_file(hf_vit_ti / "model.safetensors")
    arrays["vit.embeddings.mask_token"] = np.zeros((1, 1, 192), np.float32)
    folder = copy_folder(hf_vit_ti, tmp_path / "hf", arrays=arrays)
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-Ti_16", "--keep_head"])
    assert "vit.embeddings.mask_token" in message


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused_naming_the_array(tmp_path, capsys, hf_vit_ti, value):
    arrays = safetensors.numpy.load_file(hf_vit_ti / "model.safetensors")
    arrays["vit.encoder.layer.2.attention.attention.query.weight"][3, 5] = value
    folder = copy_folder(hf_vit_ti, tmp_path / "hf", arrays=arrays)
    message = fails(tmp_path, capsys, ["--input", folder, "--model", "ViT-Ti_16", "--keep_head"])
    key = "vit.encoder.layer.2.attention.attention.query.weight"
    assert f"'{key}' holds 1 NaN or infinite value(s)" in message


def test_float64_weights_beyond_float32_are_refused(tmp_path, capsys):
    arrays = {"Transformer/encoder_norm/scale": np.full(192, 1e39, np.float64)}
    np.savez(tmp_path / "vit.npz", **arrays)
    message = fails(
        tmp_path, capsys, ["--input", tmp_path / "vit.npz", "--model", "ViT-Ti_16", "--keep_head"]
    )
    assert "'Transformer/encoder_norm/scale' has values beyond float32's range" in message


def test_weights_without_config(tmp_path, capsys, hf_vit_ti):
    (tmp_path / "hf").mkdir()
    weights = tmp_path / "hf" / "model.safetensors"
    weights.write_bytes((hf_vit_ti / "model.safetensors").read_bytes())
    message = fails(tmp_path, capsys, ["--input", weights, "--model", "ViT-Ti_16", "--keep_head"])
    assert "needs its config.json beside it" in message


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([], "give --num_classes N"),
        (["--keep_head", "--num_classes", "5"], "4-class head; --keep_head cannot give 5"),
        (["--num_classes", "3", "--image_size", "40"], "40x40 is not divisible by the 16-pixel"),
    ],
)
def test_inconsistent_options(tmp_path, capsys, hf_vit_ti, extra, expected):
    message = fails(tmp_path, capsys, ["--input", hf_vit_ti, "--model", "ViT-Ti_16", *extra])
    assert expected in message


def test_existing_output_needs_overwrite(tmp_path, capsys, hf_vit_ti):
    args = ["--input", hf_vit_ti, "--model", "ViT-Ti_16", "--num_classes", "2"]
    output = tmp_path / "out"
    assert convert_checkpoint.main([str(a) for a in [*args, "--output", output]]) == 0
    before = (output / "metadata.json").read_text()
    status = convert_checkpoint.main([str(a) for a in [*args, "--output", output]])
    assert status == 1 and "add --overwrite" in capsys.readouterr().err
    assert (output / "metadata.json").read_text() == before
    args[-1] = "5"
    assert (
        convert_checkpoint.main([str(a) for a in [*args, "--output", output, "--overwrite"]]) == 0
    )
    assert '"num_classes": 5' in (output / "metadata.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_command_line_entry_point(tmp_path, hf_vit_ti):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vit_jax.convert_checkpoint",
            "--input",
            str(hf_vit_ti),
            "--model",
            "ViT-Ti_16",
            "--output",
            str(tmp_path / "out"),
            "--num_classes",
            "3",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "metadata.json").is_file()
    assert (tmp_path / "out" / "variables").is_dir()


def test_a_vit_npz_with_keys_of_something_else_is_refused_by_name(tmp_path, capsys):
    arrays = {"cls": np.zeros((1, 1, 192), np.float32), "optimizer/step": np.zeros((), np.int32)}
    np.savez(tmp_path / "vit.npz", **arrays)
    args = ["--input", tmp_path / "vit.npz", "--model", "ViT-Ti_16", "--format", "vit_npz"]
    message = fails(tmp_path, capsys, [*args, "--num_classes", "3"])
    assert "has 1 key(s) that a ViT .npz checkpoint does not have: ['optimizer/step']" in message


def test_a_model_that_contradicts_the_config_is_refused(tmp_path, capsys, hf_vit_ti):
    message = fails(tmp_path, capsys, ["--input", hf_vit_ti, "--model", "ViT-B_16", "--keep_head"])
    assert message.strip().endswith(
        f"{hf_vit_ti}'s config describes ViT-Ti_16, not --model ViT-B_16; leave --model out to "
        "convert it as described"
    )


def test_a_file_that_does_not_say_its_model_asks_for_one(tmp_path, capsys):
    np.savez(tmp_path / "vit.npz", **{"Transformer/encoder_norm/scale": np.ones(192, np.float32)})
    message = fails(tmp_path, capsys, ["--input", tmp_path / "vit.npz", "--num_classes", "3"])
    assert "vit.npz does not say which model it holds; give --model NAME (ViT-Ti_16," in message


def test_an_unplaceable_file_is_told_what_each_format_looks_for(tmp_path, capsys):
    np.savez(tmp_path / "odd.npz", **{"encoder/weights": np.zeros(3, np.float32)})
    message = fails(
        tmp_path, capsys, ["--input", tmp_path / "odd.npz", "--model", "ViT-Ti_16", "--keep_head"]
    )
    assert "first keys: ['encoder/weights']; looked for big_vision: a key starting" in message
    assert "hf_vit: a key containing 'embeddings.patch_embeddings.'" in message
    assert message.strip().endswith(f"give --format ({', '.join(FORMATS)})")
    assert len(message.splitlines()) == 1
