"""A fine-tuning run killed (SIGKILL) at several points and started again with the same command
ends with exactly the parameters, metrics and results of an uninterrupted run."""

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
from main_cli import TINY_ARGS, run_main, without_timing

FINAL_STEP = 18


def _jsonl(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _final_state(workdir: Path) -> dict:
    path = (workdir / "checkpoints" / str(FINAL_STEP) / "state").absolute()
    return ocp.StandardCheckpointer().restore(path)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    reference = tmp_path / "reference"
    # The uninterrupted run goes on beside the interrupted ones.
    uninterrupted = ThreadPoolExecutor(1).submit(run_main, *TINY_ARGS, workdir=reference)

    resumed = tmp_path / "resumed"
    # 6: between checkpoints 4 and 8, after step 6's log line; 9: end of epoch 1, right after its
    # validation and while its checkpoint is being written; 18: the last step, before the report.
    for kill_step in (6, 9, FINAL_STEP):
        killed = run_main(*TINY_ARGS, workdir=resumed, kill_after_step=kill_step)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert max(line["step"] for line in _jsonl(resumed)) == kill_step
    assert not (resumed / "results.json").exists()
    done = run_main(*TINY_ARGS, workdir=resumed)
    assert done.returncode == 0, done.stderr[-3000:]
    done = uninterrupted.result()
    assert done.returncode == 0, done.stderr[-3000:]

    expected_lines, lines = _jsonl(reference), _jsonl(resumed)
    assert [(line["step"], line["split"]) for line in lines] == [
        (line["step"], line["split"]) for line in expected_lines
    ]
    assert without_timing(lines) == without_timing(expected_lines)
    expected_results = json.loads((reference / "results.json").read_text())
    results = json.loads((resumed / "results.json").read_text())
    assert without_timing(results) == without_timing(expected_results)
    assert [entry["step"] for entry in results["history"]] == [9, 18]

    expected_state, state = _final_state(reference), _final_state(resumed)
    assert int(state["step"]) == FINAL_STEP
    leaves = zip(
        ocp.tree.to_flat_dict(expected_state).items(),
        ocp.tree.to_flat_dict(state).items(),
        strict=True,
    )
    for (path, expected), (same_path, value) in leaves:
        assert path == same_path
        np.testing.assert_array_equal(np.asarray(value), np.asarray(expected), err_msg=str(path))

    changed = run_main(*TINY_ARGS, "--config.seed=1", workdir=resumed)
    assert changed.returncode == 1
    assert "holds a run with another config (config.seed: saved 0, now 1)" in changed.stderr
