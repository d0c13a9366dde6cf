"""A fine-tuning run killed (SIGKILL) at several points and started again with the same command
ends with exactly the parameters, metrics and results of an uninterrupted run; also when its
newest checkpoint is damaged. A second run on a busy workdir is refused and harms nothing."""

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest
from main_cli import TINY_ARGS, run_main, without_timing

from vit_jax.common.workdir_lock import LOCK_FILE

FINAL_STEP = 18


def _jsonl(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def _final_state(workdir: Path) -> dict:
    path = (workdir / "checkpoints" / str(FINAL_STEP) / "state").absolute()
    return ocp.StandardCheckpointer().restore(path)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run; while it runs, a second run on its workdir is tried (and refused)."""
    workdir = tmp_path_factory.mktemp("reference")
    release = workdir.parent / f"{workdir.name}.release"
    uninterrupted = ThreadPoolExecutor(1).submit(
        run_main,
        *TINY_ARGS,
        workdir=workdir,
        kill_after_step=10**6,  # never: the run only pauses after step 1 until `release` exists
        env={"WAIT_FOR_FILE": str(release)},
    )
    deadline = time.monotonic() + 300
    while not (workdir / LOCK_FILE).exists():  # it holds the lock and will wait after step 1
        assert not uninterrupted.done() and time.monotonic() < deadline
        time.sleep(0.05)
    second = run_main(*TINY_ARGS, workdir=workdir)
    release.touch()
    done = uninterrupted.result()
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, second


def _assert_same_run(expected_dir: Path, workdir: Path) -> None:
    expected_lines, lines = _jsonl(expected_dir), _jsonl(workdir)
    assert [(line["step"], line["split"]) for line in lines] == [
        (line["step"], line["split"]) for line in expected_lines
    ]
    assert without_timing(lines) == without_timing(expected_lines)
    expected_results = json.loads((expected_dir / "results.json").read_text())
    results = json.loads((workdir / "results.json").read_text())
    assert without_timing(results) == without_timing(expected_results)
    assert [entry["step"] for entry in results["history"]] == [9, 18]
    expected_state, state = _final_state(expected_dir), _final_state(workdir)
    assert int(state["step"]) == FINAL_STEP
    leaves = zip(
        ocp.tree.to_flat_dict(expected_state).items(),
        ocp.tree.to_flat_dict(state).items(),
        strict=True,
    )
    for (path, expected), (same_path, value) in leaves:
        assert path == same_path
        np.testing.assert_array_equal(np.asarray(value), np.asarray(expected), err_msg=str(path))


def test_a_second_run_on_a_busy_workdir_is_refused_and_harms_nothing(reference):
    workdir, second = reference
    assert second.returncode == 1
    assert "main.py: error:" in second.stderr and "is in use by another run (pid" in second.stderr
    assert "Traceback" not in second.stderr
    lines = _jsonl(workdir)
    assert [line["step"] for line in lines if line["split"] == "test"] == [FINAL_STEP]
    assert not (workdir / LOCK_FILE).exists()


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, reference):
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
    assert "took over the lock of a run that is gone (pid" in done.stdout
    _assert_same_run(reference[0], resumed)
    # The best epoch's checkpoint (highest validation accuracy) and the final one survived.
    history = json.loads((resumed / "results.json").read_text())["history"]
    best = max(history, key=lambda entry: entry["val_accuracy"])["step"]
    assert {str(best), str(FINAL_STEP)} <= {p.name for p in (resumed / "checkpoints").iterdir()}

    changed = run_main(*TINY_ARGS, "--config.seed=1", workdir=resumed)
    assert changed.returncode == 1
    assert "holds a run with another config (config.seed: saved 0, now 1)" in changed.stderr


def test_a_damaged_newest_checkpoint_resumes_from_the_one_before(tmp_path, reference):
    resumed = tmp_path / "resumed"
    killed = run_main(*TINY_ARGS, workdir=resumed, kill_after_step=13)
    assert killed.returncode == -signal.SIGKILL
    # Saving is asynchronous: the checkpoint of step 12 may still be a temporary folder.
    committed = sorted(int(p.name) for p in (resumed / "checkpoints").iterdir() if p.name.isdigit())
    newest, previous = committed[-1], committed[-2]
    # A truncated OCDBT manifest fails one read while the others are still in flight: their late
    # callbacks must not print tracebacks.
    manifest = resumed / "checkpoints" / str(newest) / "state" / "manifest.ocdbt"
    manifest.write_bytes(manifest.read_bytes()[:16])
    done = run_main(*TINY_ARGS, workdir=resumed)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert f"checkpoint {newest} in" in done.stderr
    assert f"resuming from step {previous}" in done.stderr
    assert (resumed / "checkpoints" / "damaged" / str(newest)).is_dir()
    _assert_same_run(reference[0], resumed)
