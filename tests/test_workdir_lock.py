"""One run per workdir: a second holder is refused naming the first, a lock left by a dead
process is taken over, and workdirs that cannot hold a run are refused."""

import json
import os
import subprocess
import sys

import pytest

from vit_jax.common.workdir_lock import LOCK_FILE, WorkdirBusyError, WorkdirLock


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with WorkdirLock(workdir=tmp_path / "run"):
        with pytest.raises(WorkdirBusyError) as error:
            WorkdirLock(workdir=tmp_path / "run").acquire()
    assert f"pid {os.getpid()}" in str(error.value) and "choose another --workdir" in str(
        error.value
    )
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_the_lock_is_free_again_after_release(tmp_path):
    with WorkdirLock(workdir=tmp_path):
        pass
    with WorkdirLock(workdir=tmp_path) as lock:
        assert lock.taken_over is None
        holder = json.loads((tmp_path / LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] and holder["started"]


def test_a_lock_left_by_a_killed_process_is_taken_over_and_named(tmp_path):
    code = (
        "import os, signal, sys; from vit_jax.common.workdir_lock import WorkdirLock; "
        "WorkdirLock(workdir=sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=os.environ.copy())
    assert killed.returncode == -9
    dead_pid = json.loads((tmp_path / LOCK_FILE).read_text())["pid"]
    with WorkdirLock(workdir=tmp_path) as lock:
        assert lock.taken_over and f"pid {dead_pid}" in lock.taken_over


def test_a_workdir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        WorkdirLock(workdir=tmp_path / "file").acquire()
