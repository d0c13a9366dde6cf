"""Checkpoints named by address, offline: files the tests write in the real formats, served on
127.0.0.1. A download converts and is cached (no second request); one cut off half-way resumes
with a Range request; a 404, a size or SHA-256 mismatch and a refused connection each end in one
line and leave no partial checkpoint; hf:// goes through huggingface_hub against a loopback hub
(HF_ENDPOINT) and then from its cache offline, with the logits of the local-folder conversion; a
config naming a checkpoint converts it once."""

import hashlib
import json
import socket
from pathlib import Path

import huggingface_hub.constants
import ml_collections
import numpy as np
import pytest
import torch
from checkpoint_writers import random_arrays, save_hf_vit_ti, small_vit_layout
from loopback_server import serving
from main_cli import tiny_quickstart
from transformers import ViTForImageClassification

import vit_jax
from vit_jax import checkpoints, convert_checkpoint, models
from vit_jax.checkpoints import named, remote
from vit_jax.training import experiment

PATH = "/vit_models/imagenet21k/ViT-Ti_16.npz"


@pytest.fixture(scope="module")
def npz_bytes(tmp_path_factory) -> bytes:
    """A ViT-Ti/16 .npz in the original layout (12 blocks, 32x32, 10 classes)."""
    shapes = small_vit_layout(
        layers=12, hidden=192, mlp=768, heads=3, tokens=1 + 2 * 2, classes=10, pre_logits=False
    )
    path = tmp_path_factory.mktemp("npz") / "ViT-Ti_16.npz"
    np.savez(path, **random_arrays(shapes, seed=0))
    return path.read_bytes()


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIT_JAX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))


def _convert(args, capsys) -> tuple[int, str]:
    status = convert_checkpoint.main(args)
    return status, capsys.readouterr().err


def _leftovers(tmp_path) -> list[str]:
    return [
        p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and ".lock" not in p.name
    ]


def test_a_download_converts_and_a_second_call_sends_no_request(npz_bytes, tmp_path, capsys):
    with serving({PATH: npz_bytes}) as served:
        url = served.url + PATH
        args = ["--input", url, "--model", "ViT-Ti_16", "--keep_head"]
        status, err = _convert([*args, "--output", str(tmp_path / "out")], capsys)
        assert status == 0, err
        first = served.count(PATH)
        assert remote.download(url).read_bytes() == npz_bytes
        assert served.count(PATH) == first == 1
    meta = json.loads((tmp_path / "out" / "metadata.json").read_text())
    assert meta["source_address"] == url
    assert meta["sha256"] == hashlib.sha256(npz_bytes).hexdigest()
    local = tmp_path / "local.npz"
    local.write_bytes(npz_bytes)
    assert (
        convert_checkpoint.main(
            [
                "--input",
                str(local),
                "--model",
                "ViT-Ti_16",
                "--keep_head",
                "--output",
                str(tmp_path / "l"),
            ]
        )
        == 0
    )
    ours, reference = (checkpoints.load(directory=tmp_path / d).variables for d in ("out", "l"))
    for a, b in zip(*(sorted(_leaves(v)) for v in (ours, reference)), strict=True):
        np.testing.assert_array_equal(a[1], b[1])


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", np.asarray(value)


def test_a_download_cut_off_half_way_resumes_with_a_range_request(npz_bytes):
    with serving({PATH: npz_bytes}) as served:
        served.cut_once.add(PATH)
        path = remote.download(served.url + PATH, progress=False)
        ranges = [r for method, p, r in served.requests if p == PATH and r]
    assert path.read_bytes() == npz_bytes
    assert len(ranges) == 1  # resumed from the bytes kept (whole chunks of the half sent)
    start = int(ranges[0].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= len(npz_bytes) // 2
    assert not path.with_name(path.name + ".part").exists()


def test_a_server_that_trickles_is_given_up_on_and_the_part_kept(npz_bytes, monkeypatch):
    """One byte every 50 ms is below the minimum rate (made small here): the transfer stops in
    one line, keeping what came for a resume, instead of hanging."""
    monkeypatch.setattr(remote, "MIN_RATE", 1000)
    monkeypatch.setattr(remote, "RATE_WINDOW", 0.5)
    with serving({PATH: npz_bytes}) as served:
        served.trickle[PATH] = 0.05
        with pytest.raises(
            remote.DownloadError, match="slower than 1000 bytes/s for 0.5 s"
        ) as error:
            remote.download(served.url + PATH, progress=False)
    assert "run the same command again to resume" in str(error.value)
    kept = str(error.value).split(" bytes in ")[1].split(";")[0]
    assert 0 < Path(kept).stat().st_size < len(npz_bytes)


def test_a_truncated_download_is_not_kept_as_a_cache_entry(npz_bytes, tmp_path, capsys):
    """A server that sends half the file as if it were all of it: the conversion fails naming
    the file and removes it from the cache; once the server is fixed, the next run fetches it."""
    args = ["--model", "ViT-Ti_16", "--keep_head"]
    with serving({PATH: npz_bytes[: len(npz_bytes) // 2]}) as served:
        url = served.url + PATH
        status, err = _convert(["--input", url, *args, "--output", str(tmp_path / "o")], capsys)
        errors = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
        assert status == 1 and len(errors) == 1, err  # after the download's progress bar
        assert "not a readable .npz file" in errors[0] and "removed from the cache" in errors[0]
        served.files[PATH] = npz_bytes
        status, err = _convert(["--input", url, *args, "--output", str(tmp_path / "o")], capsys)
        assert status == 0, err
        assert served.count(PATH) == 2
    assert not (tmp_path / "o.partial").exists()


@pytest.mark.parametrize(
    "check, message",
    [
        ({"size": 123}, "bytes, expected 123; removed it"),
        ({"sha256": "0" * 64}, "is not the expected 0000"),
    ],
)
def test_a_size_or_sha256_mismatch_removes_the_download(npz_bytes, tmp_path, check, message):
    with serving({PATH: npz_bytes}) as served:
        with pytest.raises(remote.DownloadError, match=message) as error:
            remote.download(served.url + PATH, progress=False, **check)
    assert "curl -L -C - -o ViT-Ti_16.npz" in str(error.value)
    assert _leftovers(tmp_path) == []


def test_a_404_is_one_line_and_leaves_nothing(tmp_path, capsys):
    with serving({}) as served:
        url = served.url + PATH
        status, err = _convert(
            [
                "--input",
                url,
                "--model",
                "ViT-Ti_16",
                "--keep_head",
                "--output",
                str(tmp_path / "o"),
            ],
            capsys,
        )
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert f"{url}: HTTP 404" in err and "--input ViT-Ti_16.npz" in err
    assert not (tmp_path / "o").exists() and _leftovers(tmp_path) == []


def test_a_redirect_loop_is_one_line_naming_the_address(tmp_path):
    with serving({}) as served:
        served.redirects["/a"], served.redirects["/b"] = "/b", "/a"
        with pytest.raises(remote.DownloadError, match="TooManyRedirects") as error:
            remote.download(served.url + "/a", progress=False)
    assert str(error.value).startswith(f"{served.url}/a: ")
    assert _leftovers(tmp_path) == []


def test_a_refused_connection_is_one_line(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x/ViT-B_16.npz"
    status, err = _convert(
        ["--input", url, "--model", "ViT-B_16", "--keep_head", "--output", str(tmp_path / "o")],
        capsys,
    )
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert f"cannot connect to 127.0.0.1:{port}" in err and "Connection refused" in err
    assert not (tmp_path / "o").exists() and _leftovers(tmp_path) == []


def test_gs_addresses_are_the_public_bucket_over_https():
    assert (
        remote.https_address("gs://vit_models/imagenet21k/ViT-B_16.npz")
        == "https://storage.googleapis.com/vit_models/imagenet21k/ViT-B_16.npz"
    )
    assert named.NAMED["vit-b16-in21k"].source.startswith("gs://vit_models/")


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    return save_hf_vit_ti(tmp_path_factory.mktemp("hf") / "vit-ti")


def test_hf_addresses_download_from_the_hub_then_convert_offline_from_its_cache(
    hf_folder, tmp_path, capsys, monkeypatch
):
    files = {f"/org/vit-ti/resolve/main/{p.name}": p.read_bytes() for p in hf_folder.iterdir()}
    with serving(files) as served:
        monkeypatch.setenv("HF_ENDPOINT", served.url)
        args = ["--input", "hf://org/vit-ti", "--model", "ViT-Ti_16", "--keep_head"]
        status, err = _convert([*args, "--output", str(tmp_path / "hub")], capsys)
        assert status == 0, err
        asked = {p.rsplit("/", 1)[1] for _, p, _ in served.requests}
    assert {"config.json", "model.safetensors"} <= asked and "pytorch_model.bin" not in asked
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    status, err = _convert([*args, "--output", str(tmp_path / "offline")], capsys)
    assert status == 0, err
    status, err = _convert(
        [
            "--input",
            str(hf_folder),
            "--model",
            "ViT-Ti_16",
            "--keep_head",
            "--output",
            str(tmp_path / "folder"),
        ],
        capsys,
    )
    assert status == 0, err
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    logits = []
    for name in ("hub", "offline", "folder"):
        loaded = checkpoints.load(directory=tmp_path / name)
        model = models.create_model(
            "ViT-Ti_16", num_classes=4, **loaded.metadata["model_overrides"]
        )
        logits.append(np.asarray(model.apply(loaded.variables, images, train=False)))
    np.testing.assert_array_equal(logits[0], logits[2])
    np.testing.assert_array_equal(logits[1], logits[2])
    assert np.abs(logits[2]).max() > 1e-3


def test_an_hf_address_not_in_the_cache_offline_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    status, err = _convert(
        [
            "--input",
            "hf://org/absent",
            "--model",
            "ViT-Ti_16",
            "--keep_head",
            "--output",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "not in the Hugging Face cache" in err and "hf download org/absent" in err


def test_a_refused_hub_connection_is_one_line_without_retries(tmp_path, capsys, monkeypatch):
    """Not offline by setting, but nothing answers: one request, then the cache only, so no
    backoff (huggingface_hub would retry for about 25 s, warning each time)."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there

    def no_backoff(seconds):
        raise AssertionError(f"huggingface_hub backed off for {seconds} s")

    monkeypatch.setattr(huggingface_hub.utils._http.time, "sleep", no_backoff)
    args = ["--input", "hf://org/absent", "--model", "ViT-Ti_16", "--keep_head"]
    status, err = _convert([*args, "--output", str(tmp_path / "o")], capsys)
    assert status == 1 and len(err.strip().splitlines()) == 1, err
    assert "127.0.0.1:9" in err and "hf download org/absent" in err


def test_a_config_naming_a_checkpoint_converts_it_once(npz_bytes, monkeypatch):
    with serving({PATH: npz_bytes}) as served:
        entry = named.NamedCheckpoint(served.url + PATH, "ViT-Ti_16", True, "test")
        monkeypatch.setitem(named.NAMED, "vit-ti-test", entry)
        config = tiny_quickstart(
            init="checkpoint", checkpoint_dir="vit-ti-test", mode="zeroshot", image_size=(32, 32)
        )
        config.model_overrides = ml_collections.ConfigDict()
        first = experiment.build(config)
        assert served.count(PATH) == 1
        second = experiment.build(config)
        assert served.count(PATH) == 1
    assert first.checkpoint_dir == second.checkpoint_dir
    assert first.checkpoint_dir.name == "vit-ti-test"
    config.model = "ViT-S_16"
    with pytest.raises(ValueError, match="'vit-ti-test' is a ViT-Ti_16, not a ViT-S_16"):
        experiment.build(config)


def test_a_downloaded_checkpoint_folder_is_converted_once_on_first_use(hf_folder, capsys):
    """A Hugging Face folder as checkpoint_dir and as the Python API's input: converted into
    the cache once, to the same model a by-hand conversion gives."""
    config = tiny_quickstart(
        init="checkpoint", checkpoint_dir=str(hf_folder), mode="zeroshot", image_size=(32, 32)
    )
    config.model_overrides = ml_collections.ConfigDict()
    first = experiment.build(config)
    assert "converting once" in capsys.readouterr().out
    second = experiment.build(config)
    assert "converting once" not in capsys.readouterr().out
    assert first.checkpoint_dir == second.checkpoint_dir != hf_folder
    clf = vit_jax.Classifier.load(hf_folder, model="ViT-Ti_16")
    assert clf.checkpoint == first.checkpoint_dir
    with pytest.raises(ValueError, match="name its model"):
        vit_jax.Classifier.load(hf_folder)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    reference = ViTForImageClassification.from_pretrained(hf_folder).eval()
    inputs = np.stack([clf.preprocess(image) for image in images]).transpose(0, 3, 1, 2)
    with torch.no_grad():
        expected = reference(pixel_values=torch.from_numpy(inputs)).logits.numpy()
    np.testing.assert_allclose(clf.logits(list(images)), expected, atol=1e-4)


def test_the_readme_lists_the_named_checkpoints_table():
    readme = (Path(__file__).resolve().parents[1] / "docs" / "checkpoints.md").read_text()
    assert named.table_markdown() in readme


def test_a_full_disk_names_the_address_and_keeps_the_part_to_resume(npz_bytes, monkeypatch):
    real_open = open

    class FullDisk:
        def __init__(self, file):
            self.file = file

        def write(self, data):
            raise OSError(28, "No space left on device", self.file.name)

        def tell(self):
            return self.file.tell()

        def __enter__(self):
            return self

        def __exit__(self, *args):
            self.file.close()

    def opening(path, mode="r", *args, **kwargs):
        file = real_open(path, mode, *args, **kwargs)
        return FullDisk(file) if str(path).endswith(".part") else file

    monkeypatch.setattr("builtins.open", opening)
    with serving({PATH: npz_bytes}) as served:
        with pytest.raises(remote.DownloadError, match="No space left on device") as error:
            remote.download(served.url + PATH, progress=False)
    assert served.url + PATH in str(error.value) and "run the same command again" in str(
        error.value
    )
