"""main.py as two jax.distributed processes on localhost (CPU collectives over gloo): one run,
written once by process 0, with each process's data-iterator position in its checkpoints."""

import json
import socket
from concurrent.futures import ThreadPoolExecutor

from main_cli import TINY_ARGS, TINY_STEPS_PER_EPOCH, run_main


def test_two_processes_run_one_training(tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    workdir = tmp_path / "run"
    args = (*TINY_ARGS, "--config.num_epochs=1", f"--config.coordinator_address=localhost:{port}")
    with ThreadPoolExecutor(2) as pool:
        runs = [
            pool.submit(
                run_main,
                *args,
                "--config.num_processes=2",
                f"--config.process_id={i}",
                workdir=workdir,
            )
            for i in range(2)
        ]
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
