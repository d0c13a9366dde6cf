"""main.py with a training-loop callback that SIGKILLs the process right after step N, once that
step's checkpoint (if any) has started: `python tests/kill_after_step.py N <main.py arguments>`.
The tests use it to crash a run at a chosen moment; the loop itself has no such hook."""

import functools
import os
import signal
import sys
from pathlib import Path

from absl import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import main  # noqa: E402
from vit_jax.training import loop  # noqa: E402


def _kill_after(step: int, *, at: int) -> None:
    if step == at:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    at = int(sys.argv.pop(1))
    on_step = functools.partial(_kill_after, at=at)
    loop.train_and_evaluate = functools.partial(loop.train_and_evaluate, on_step=on_step)
    app.run(main.main)
