"""Generated damage: every reader is fed truncated and bit-flipped versions of a valid file of its
format (.npz, .safetensors, PyTorch zip, a Hugging Face config.json) and must end in one error
line (exit status 1) or a correct conversion (exit status 0), never a traceback."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from checkpoint_writers import save_hf_vit_ti

from vit_jax import convert_checkpoint

ARRAYS = {
    "cls": np.zeros((1, 1, 192), np.float32),
    "Transformer/encoder_norm/scale": np.ones(192, np.float32),
    "embedding/kernel": np.arange(16 * 16 * 3 * 192, dtype=np.float32).reshape(16, 16, 3, 192),
}
CONFIG = {
    "architectures": ["ViTForImageClassification"],
    "model_type": "vit",
    "hidden_size": 192,
    "num_hidden_layers": 12,
    "num_attention_heads": 3,
    "intermediate_size": 768,
    "image_size": 32,
    "patch_size": 16,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-12,
    "id2label": {"0": "a", "1": "b"},
}


def _valid_files(folder: Path) -> dict[str, Path]:
    """One small valid file per container; each is what --input names."""
    np.savez(folder / "vit.npz", **ARRAYS)
    hf = folder / "hf"
    hf.mkdir()
    safetensors.numpy.save_file(
        {"vit.embeddings.cls_token": np.zeros((1, 1, 192), np.float32)}, hf / "model.safetensors"
    )
    (hf / "config.json").write_text(json.dumps(CONFIG))
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, folder / "resnet50.pth")
    return {
        "npz": folder / "vit.npz",
        "safetensors": hf / "model.safetensors",
        "config": hf / "config.json",
        "pth": folder / "resnet50.pth",
    }


MODELS = {"npz": "ViT-Ti_16", "safetensors": "ViT-Ti_16", "config": "ViT-Ti_16", "pth": "ResNet-50"}


def _damaged(data: bytes, *, seed: int) -> list[bytes]:
    """8 truncations (including empty and one byte short) and 12 single-bit flips."""
    rng = np.random.default_rng(seed)
    cuts = sorted({0, 1, 8, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1})
    versions = [data[:cut] for cut in cuts if 0 <= cut < len(data)]
    versions.append(data[: len(data) // 4] + data[len(data) // 2 :])  # a hole in the middle
    for position in rng.choice(len(data), size=12, replace=False):
        flipped = bytearray(data)
        flipped[position] ^= 1 << int(rng.integers(8))
        versions.append(bytes(flipped))
    return versions


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_damaged_files_end_in_one_line_or_a_conversion(tmp_path, capsys, kind):
    files = _valid_files(tmp_path)
    target = files[kind]
    given = target.parent if kind in ("safetensors", "config") else target
    original = target.read_bytes()
    outcomes = {0: 0, 1: 0}
    for index, damaged in enumerate(_damaged(original, seed=len(kind))):
        target.write_bytes(damaged)
        output = tmp_path / f"out{index}"
        args = ["--input", str(given), "--model", MODELS[kind], "--keep_head"]
        status = convert_checkpoint.main([*args, "--output", str(output)])
        err = capsys.readouterr().err
        assert status in (0, 1), (kind, index, status)
        outcomes[status] += 1
        if status == 1:
            assert len(err.strip().splitlines()) == 1, (kind, index, err[-2000:])
            assert err.startswith("convert_checkpoint: error: ") and "Traceback" not in err
            assert not output.exists()
    assert outcomes[1] > 0
    print(f"{kind}: {sum(outcomes.values())} damaged versions, {outcomes[1]} refused in one line")


def _one_line_error(tmp_path, capsys, given: Path, model: str) -> str:
    args = ["--input", str(given), "--model", model, "--keep_head", "--output", str(tmp_path / "o")]
    capsys.readouterr()  # what writing the file printed
    status = convert_checkpoint.main(args)
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    return err


def test_an_npz_header_claiming_terabytes_is_refused_before_allocating(tmp_path, capsys):
    """A member whose header claims 4 TiB, in an archive that is otherwise intact (checksums
    right): refused from the header, without trying to allocate the array."""
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((1, 1, 192), np.float32))
    member = buffer.getvalue().replace(b"(1, 1, 192), }     ", b"(1099511627776,), }")
    assert len(member) == len(buffer.getvalue())
    with zipfile.ZipFile(tmp_path / "vit.npz", "w") as archive:
        archive.writestr("cls.npy", member)
    err = _one_line_error(tmp_path, capsys, tmp_path / "vit.npz", "ViT-Ti_16")
    assert "array 'cls' declares shape (1099511627776,) (4,398,046,511,104 bytes)" in err


def test_a_damaged_zip_directory_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "vit.npz", **ARRAYS)
    data = bytearray((tmp_path / "vit.npz").read_bytes())
    data[-22:-12] = b"\xff" * 10  # the end-of-central-directory record
    (tmp_path / "vit.npz").write_bytes(bytes(data))
    assert "vit.npz" in _one_line_error(tmp_path, capsys, tmp_path / "vit.npz", "ViT-Ti_16")


@pytest.mark.parametrize("keys", [[0, 1], ["conv1.weight", 7]], ids=["integers", "mixed"])
def test_a_state_dict_with_keys_that_are_not_names_is_one_line(tmp_path, capsys, keys):
    torch.save({key: torch.zeros(2) for key in keys}, tmp_path / "r.pth")
    err = _one_line_error(tmp_path, capsys, tmp_path / "r.pth", "ResNet-50")
    assert "r.pth holds a tensor under the key" in err


@pytest.mark.parametrize(
    "change, message",
    [
        ({"num_attention_heads": 0}, "num_attention_heads 0 is not a positive whole number"),
        ({"hidden_size": None}, "hidden_size None is not a positive whole number"),
        ({"hidden_act": ["gelu"]}, "hidden_act ['gelu'] is not a string"),
        ({"layer_norm_eps": None}, "layer_norm_eps None is not a positive number"),
        ({"id2label": {"0": 1, "1": 2}}, "id2label must map class indices"),
        ({"image_size": 0}, "image_size 0 is not a positive size"),
    ],
)
def test_a_hugging_face_config_with_impossible_fields_is_one_line(
    tmp_path, capsys, change, message
):
    folder = save_hf_vit_ti(tmp_path / "hf", num_labels=2)
    values = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**values, **change}))
    assert message in _one_line_error(tmp_path, capsys, folder, "ViT-Ti_16")
