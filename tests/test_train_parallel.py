"""Data parallelism: the same training steps on 1 device, on 8 simulated CPU devices and on two
jax.distributed processes give the same losses and parameters (tests/train_steps_probe.py)."""

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from main_cli import subprocess_env

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "train_steps_probe.py"
TOLERANCE = 1e-5


def _probe(output: Path, *, device_count: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(PROBE), str(output), *extra],
        env=subprocess_env(devices=device_count),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen) -> None:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-3000:]


def _assert_same(a: dict, b: dict) -> None:
    """The same losses and variables (the fsdp probe's shares aside)."""
    keys = sorted(k for k in a.files if k != "device_count" and "/share/" not in k)
    assert keys == sorted(k for k in b.files if k != "device_count" and "/share/" not in k)
    for key in keys:
        np.testing.assert_allclose(a[key], b[key], atol=TOLERANCE, rtol=0, err_msg=key)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory: pytest.TempPathFactory) -> np.lib.npyio.NpzFile:
    output = tmp_path_factory.mktemp("probe") / "one.npz"
    _finish(_probe(output, device_count=1))
    return np.load(output)


def test_eight_devices_match_one_device(single_device, tmp_path):
    output = tmp_path / "eight.npz"
    _finish(_probe(output, device_count=8))
    eight = np.load(output)
    assert int(eight["device_count"]) == 8 and int(single_device["device_count"]) == 1
    _assert_same(single_device, eight)
    # The steps really trained: losses change and BatchNorm statistics moved off their init.
    losses = single_device["ResNet-50/losses"]
    assert len(losses) == 3 and np.ptp(losses) > 1e-3  # one per update
    assert np.abs(single_device["ResNet-50/batch_stats/bn_root/mean"]).max() > 1e-3


def test_fsdp_on_eight_devices_trains_as_one_device_holding_an_eighth(single_device, tmp_path):
    """Parameters and optimizer state sharded over 8 devices: the same losses and variables as
    one device (BatchNorm ResNet and ViT, accumulation, momentum, clipping), and each device
    holds 1/8 of every array large enough to split (the rest is under 1% of the bytes)."""
    output = tmp_path / "fsdp.npz"
    _finish(_probe(output, device_count=8, extra=("--fsdp",)))
    fsdp = np.load(output)
    _assert_same(single_device, fsdp)
    shares = {k: float(fsdp[k]) for k in fsdp.files if "/share/" in k}
    assert set(shares.values()) == {1 / 8, 1.0}
    params = [k for k in shares if "/share/params/" in k]
    sizes = {k: single_device[k.replace("/share/params/", "/params/")].size for k in params}
    split = sum(v for k, v in sizes.items() if shares[k] == 1 / 8)
    assert split > 0.99 * sum(sizes.values())
    assert all(shares[k] == 1 / 8 for k, v in sizes.items() if v >= 16 * 8 and v % 8 == 0)


@pytest.mark.parametrize("fsdp", [False, True])
def test_two_processes_agree_with_each_other_and_one_device(single_device, tmp_path, fsdp):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    outputs = [tmp_path / f"process{i}.npz" for i in range(2)]
    flag = ("--fsdp",) if fsdp else ()
    processes = [
        _probe(outputs[i], device_count=1, extra=(*flag, f"localhost:{port}", "2", str(i)))
        for i in range(2)
    ]
    for process in processes:
        _finish(process)
    first, second = (np.load(path) for path in outputs)
    assert int(first["device_count"]) == 2
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    _assert_same(single_device, first)
