"""main.py as two jax.distributed processes on localhost (CPU collectives over gloo), started
with the coordinator flags or as Slurm's srun starts them (no flags: the launcher is detected):
one run, written once by process 0, with each process's data-iterator position in its
checkpoints."""

import json
import socket
from concurrent.futures import ThreadPoolExecutor

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
