"""main.py with a training-loop callback that SIGKILLs the process right after step N, once that
step's checkpoint (if any) has started: `python tests/kill_after_step.py N <main.py arguments>`.
With $WAIT_FOR_FILE set, the run also pauses after step 1 until that file exists, so that a test
can act while it certainly still runs. The tests use it to crash or hold a run at a chosen
moment; the loop itself has no such hook."""

import functools
import os
import signal
import sys
import time
from pathlib import Path

from absl import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main  # noqa: E402
from vit_jax.training import loop  # noqa: E402


def _kill_after(step: int, *, at: int) -> None:
    release = os.environ.get("WAIT_FOR_FILE")
    if step == 1 and release:
        deadline = time.monotonic() + 600
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    if step == at:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    at = int(sys.argv.pop(1))
    on_step = functools.partial(_kill_after, at=at)
    loop.train_and_evaluate = functools.partial(loop.train_and_evaluate, on_step=on_step)
    app.run(main.main)
