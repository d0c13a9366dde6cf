"""main.py as two jax.distributed processes on localhost (CPU collectives over gloo), started
with the coordinator flags or as Slurm's srun starts them (no flags: the launcher is detected):
one run, written once by process 0, with each process's data-iterator position in its
checkpoints."""

import json
import signal
import socket
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from main_cli import TINY_ARGS, TINY_STEPS_PER_EPOCH, run_main


def free_port(candidates=range(1024, 65536)) -> int:
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def launch(launcher: str, index: int, port: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """(extra arguments, environment) of process `index` of 2 as `launcher` starts it: flags
    typed by hand, or the variables srun sets (jax.distributed's Slurm detection derives the
    coordinator's port from the job id)."""
    if launcher == "flags":
        flags = (f"--config.coordinator_address=localhost:{port}", "--config.num_processes=2")
        return (*flags, f"--config.process_id={index}"), {}
    slurm = {"SLURM_JOB_ID": str(port - 61440), "SLURM_STEP_NODELIST": "localhost"}
    slurm |= {"SLURM_NTASKS": "2", "SLURM_PROCID": str(index), "SLURM_LOCALID": str(index)}
    return (), slurm


@pytest.mark.parametrize("launcher", ["flags", "slurm"])
def test_two_processes_run_one_training(tmp_path, launcher):
    port = free_port() if launcher == "flags" else free_port(range(61440, 65536))
    workdir = tmp_path / "run"
    with ThreadPoolExecutor(2) as pool:
        runs = []
        for i in range(2):
            extra, env = launch(launcher, i, port)
            args = (*TINY_ARGS, "--config.num_epochs=1", *extra)
            runs.append(pool.submit(run_main, *args, workdir=workdir, env=env))
        results = [run.result() for run in runs]
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    keys = [(line["step"], line["split"]) for line in lines]
    assert len(keys) == len(set(keys)), "every metric is written once"
    assert (TINY_STEPS_PER_EPOCH, "test") in keys
    data = workdir / "checkpoints" / str(TINY_STEPS_PER_EPOCH) / "data"
    assert sorted(p.name for p in data.glob("process_*.json")) == [
        "process_0-of-2.json",
        "process_1-of-2.json",
    ]
    states = [json.loads((data / f"process_{i}-of-2.json").read_text()) for i in range(2)]
    assert states[0] != states[1], "each process saved its own shard's position"
    results_json = json.loads((workdir / "results.json").read_text())
    assert results_json["history"][0]["step"] == TINY_STEPS_PER_EPOCH


def _final_state(workdir) -> dict:
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    path = (workdir / "checkpoints" / str(steps[-1]) / "state").absolute()
    checkpointer = ocp.StandardCheckpointer()
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # saved over 4 devices
    target = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
        checkpointer.metadata(path).item_metadata,
    )
    return ocp.tree.to_flat_dict(checkpointer.restore(path, target))


def test_an_fsdp_run_killed_on_eight_devices_resumes_on_four_as_a_four_device_run(tmp_path):
    """config.sharding='fsdp': the sharded checkpoint of an 8-device run restores onto 4 devices
    and the run ends where an uninterrupted 4-device run ends (losses, accuracy, final state)."""
    args = (*TINY_ARGS, "--config.sharding=fsdp")
    with ThreadPoolExecutor(2) as pool:  # the uninterrupted run beside the killed one
        reference = pool.submit(run_main, *args, workdir=tmp_path / "reference", devices=4)
        killed = run_main(*args, workdir=tmp_path / "run", devices=8, kill_after_step=13)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        resumed = run_main(*args, workdir=tmp_path / "run", devices=4)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert "resum" in resumed.stdout + resumed.stderr
        assert reference.result().returncode == 0, reference.result().stderr[-3000:]
    results = [
        json.loads((tmp_path / d / "results.json").read_text()) for d in ("run", "reference")
    ]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(
            [entry[key] for entry in results[0]["history"]],
            [entry[key] for entry in results[1]["history"]],
            atol=1e-5,
            err_msg=key,
        )
    ours, expected = _final_state(tmp_path / "run"), _final_state(tmp_path / "reference")
    assert ours.keys() == expected.keys() and int(ours[("step",)]) == 18
    for path in ours:
        if path[-2:] == ("key", "bias"):
            # The attention logits do not depend on the key bias (it shifts a query's logits
            # alike): its gradient is float rounding, which Adam scales up to whole updates.
            continue
        np.testing.assert_allclose(ours[path], expected[path], atol=1e-5, err_msg=str(path))
