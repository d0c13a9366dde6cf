"""Every command on bad input: a non-zero exit, no traceback, and one line
`<command>: error: ...` naming the field, file or value at fault.

main.py runs in subprocesses (absl exits the process); the other commands' `main` functions
return their exit status and run in-process."""

import errno
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from main_cli import ROOT, TINY_ARGS, _command, run_main, subprocess_env

from vit_jax import benchmark, convert_checkpoint, prepare_data
from vit_jax.common.errors import DEBUG_ENV, describe, quiet_background_errors

# (case, extra arguments, text the message must contain); "{tmp}" is the test's folder.
MAIN_CASES = [
    ("unknown field", ["--config.bach_size=3"], "no field 'bach_size'"),
    ("unknown nested field", ["--config.recipes.quickstart.lr=1"], "recipes.quickstart.lr"),
    ("not a number", ["--config.num_epochs=abc"], "--config.num_epochs=abc"),
    ("zero batch", ["--config.recipes.quickstart.batch_size=0"], "batch_size=0"),
    ("zero learning rate", ["--config.recipes.quickstart.learning_rate=0"], "learning_rate=0"),
    ("negative learning rate", ["--config.recipes.quickstart.learning_rate=-1"], "=-1.0"),
    ("zero accumulation", ["--config.recipes.quickstart.grad_accum_steps=0"], "grad_accum"),
    ("negative warmup", ["--config.recipes.quickstart.warmup_steps=-1"], "warmup_steps=-1"),
    ("zero eval batch", ["--config.eval_batch_size=0"], "eval_batch_size=0"),
    ("zero image size", ["--config.image_size=(0,8)"], "image_size=(0, 8)"),
    ("one number image size", ["--config.image_size=8"], "image_size"),
    ("no checkpoints kept", ["--config.keep_checkpoints=0"], "keep_checkpoints=0"),
    ("negative prefetch", ["--config.prefetch_batches=-1"], "prefetch_batches=-1"),
    ("one class", ["--config.num_classes=1"], "num_classes=1"),
    ("unknown dataset", ["--config.dataset=mnist"], "'mnist'"),
    ("unknown model", ["--config.model=ViT-Q_3"], "ViT-Q_3"),
    (
        "unprepared dataset",
        ["--config.dataset=shoe_sandal_boot", "--config.data_dir={tmp}/nothing"],
        "python -m vit_jax.prepare_data",
    ),
    (
        "missing checkpoint",
        ["--config.init=checkpoint", "--config.checkpoint_dir={tmp}/no_checkpoint"],
        "python -m vit_jax.convert_checkpoint",
    ),
    ("missing config file", ["--config=configs/nope.py"], "configs/nope.py"),
    ("unknown config argument", ["--config=configs/finetune.py:vit16"], "'vit16' is not one of"),
    ("workdir is a file", ["--workdir={tmp}/file"], "is a file"),
    ("workdir inside a file", ["--workdir={tmp}/file/run"], "Not a directory"),
    ("empty workdir", ["--workdir= "], "--workdir is empty"),
]


def _expect_one_line(output: str, command: str, expected: str) -> None:
    """One `<command>: error:` line; `expected` in it or in the fixing command's lines after."""
    assert "Traceback" not in output, output[-3000:]
    lines = output.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith(f"{command}: error: ")]
    assert len(errors) == 1, output[-3000:]
    assert expected in "\n".join(lines[errors[0] :]), output[-3000:]


def test_main_refuses_every_bad_input_in_one_line(tmp_path):
    (tmp_path / "file").write_text("not a folder")

    def run(case):
        name, extra, expected = case
        extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
        workdir = tmp_path / re.sub(r"\W+", "_", name)
        overridden = {arg.split("=")[0] for arg in extra}  # tuple fields would accumulate
        args = [*(a for a in TINY_ARGS if a.split("=")[0] not in overridden), *extra]
        if any(arg.startswith("--workdir") for arg in extra):
            command = [
                a for a in _command(tuple(args), workdir, None) if a != f"--workdir={workdir}"
            ]
            result = subprocess.run(
                command, env=subprocess_env(), cwd=ROOT, capture_output=True, text=True, timeout=300
            )
        else:
            result = run_main(*args, workdir=workdir)
        return name, result, expected, workdir

    with ThreadPoolExecutor(2) as pool:
        for name, result, expected, workdir in pool.map(run, MAIN_CASES):
            assert result.returncode != 0, name
            _expect_one_line(result.stderr, "main.py", expected)
            assert not (workdir / "checkpoints").exists(), name


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_with_the_step_reached_and_where_it_resumes(tmp_path, signum):
    command = _command((*TINY_ARGS, "--config.checkpoint_every_steps=2"), tmp_path / "run", None)
    process = subprocess.Popen(
        command, env=subprocess_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while not (tmp_path / "run" / "checkpoints" / "2").is_dir():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    os.kill(process.pid, signum)
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 130
    assert "Traceback" not in stderr
    match = re.search(
        r"main.py: interrupted at step (\d+) of 18; run the same command again to "
        r"resume from step (\d+)",
        stderr,
    )
    assert match and int(match[1]) >= int(match[2]) >= 2, stderr[-2000:]


PREPARE_CASES = [
    ("missing source", ["--source_dir", "{tmp}/nowhere"], "{tmp}/nowhere"),
    ("source is a file", ["--source_dir", "{tmp}/file"], "{tmp}/file"),
    ("no class folders", ["--source_dir", "{tmp}/empty"], "No class folders in {tmp}/empty"),
    ("one class folder", ["--source_dir", "{tmp}/one"], "Only one class folder (only)"),
    ("empty class folder", ["--source_dir", "{tmp}/hollow"], "Empty class folder(s)"),
    ("data_dir is a file", ["--source_dir", "{tmp}/two", "--data_dir", "{tmp}/file"], "is a file"),
    ("unreadable image", ["--source_dir", "{tmp}/bad"], "1 file(s) could not be read"),
    ("a split without images", ["--source_dir", "{tmp}/two"], "no image falls into the"),
]


def test_prepare_data_refuses_every_bad_input_in_one_line(tmp_path, capsys, write_image):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    write_image(tmp_path / "one" / "only" / "x.jpg", seed=1)
    (tmp_path / "hollow" / "a").mkdir(parents=True)
    write_image(tmp_path / "hollow" / "b" / "x.jpg", seed=1)
    for name in ("two", "bad"):
        write_image(tmp_path / name / "a" / "x.jpg", seed=1)
        write_image(tmp_path / name / "b" / "y.jpg", seed=2)
    (tmp_path / "bad" / "b" / "broken.jpg").write_text("not an image")
    for name, extra, expected in PREPARE_CASES:
        extra = [arg.replace("{tmp}", str(tmp_path)) for arg in extra]
        args = ["--dataset", "image_folder", "--data_dir", str(tmp_path / "data"), *extra]
        assert prepare_data.main(args) == 1, name
        _expect_one_line(
            capsys.readouterr().err, "prepare_data", expected.replace("{tmp}", str(tmp_path))
        )
    assert not (tmp_path / "data").exists()


def test_convert_checkpoint_refuses_bad_input_in_one_line(tmp_path, capsys):
    cases = [
        (["--input", str(tmp_path / "missing.npz")], "missing.npz"),
        (["--input", str(tmp_path / "nan.npz")], "holds 192 NaN or infinite value(s)"),
    ]
    np.savez(tmp_path / "nan.npz", **{"Transformer/encoder_norm/scale": np.full(192, np.nan)})
    for extra, expected in cases:
        args = [*extra, "--model", "ViT-Ti_16", "--output", str(tmp_path / "out"), "--keep_head"]
        assert convert_checkpoint.main(args) == 1
        _expect_one_line(capsys.readouterr().err, "convert_checkpoint", expected)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--model", "ViT-Q_3"], "'ViT-Q_3' is not one of"),
        (["--mode", "fly"], "'fly' is not one of"),
        (["--batch_size", "0"], "--batch_size and --repeats must be >= 1"),
        (["--image_size", "0"], "--image_size"),
    ],
)
def test_benchmark_refuses_bad_arguments_in_one_line(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        benchmark.parse_args(args)
    assert exit_.value.code == 2
    _expect_one_line(capsys.readouterr().err, "python -m vit_jax.benchmark", expected)


def test_a_full_disk_names_the_path():
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/a/results.json")
    assert describe(error) == (
        "No space left on device: /runs/a/results.json (free some space or write elsewhere)"
    )


def test_background_failures_print_one_line_and_late_loop_callbacks_nothing(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda arguments: seen.append(arguments.exc_value))
    monkeypatch.setattr(threading, "excepthook", lambda arguments: seen.append(arguments.exc_value))
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    quiet_background_errors("convert_checkpoint")

    class LateCallback:
        def __del__(self):
            raise RuntimeError("Event loop is closed")

    class FailedWrite:
        def __del__(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/out/d/0")

    LateCallback()
    FailedWrite()
    worker = threading.Thread(target=lambda: 1 / 0)
    worker.start()
    worker.join()
    assert seen == []
    assert capsys.readouterr().err.splitlines() == [
        "convert_checkpoint: warning: a background task failed: No space left on device: /out/d/0 "
        "(free some space or write elsewhere)",
        "convert_checkpoint: warning: a background task failed: division by zero",
    ]

    def record(logger: str, path: str, message: str) -> logging.LogRecord:
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError:
            failure = sys.exc_info()
        return logging.LogRecord(logger, logging.ERROR, path, 1, message, None, failure)

    orbax_thread = record(
        "absl", "/site/orbax/checkpoint/async_checkpointer.py", "Failed in background save thread"
    )
    sibling_write = record("asyncio", "/asyncio/events.py", "Task exception was never retrieved")
    ours = record("absl", "/site/vit_jax/training/loop.py", "something else")
    assert not logging.getLogger("absl").filter(orbax_thread)
    assert not logging.getLogger("asyncio").filter(sibling_write)
    assert logging.getLogger("absl").filter(ours)

    monkeypatch.setenv(DEBUG_ENV, "1")
    LateCallback()
    assert [str(error) for error in seen] == ["Event loop is closed"]
    assert logging.getLogger("absl").filter(orbax_thread)
