"""Metric logging: one JSON line per evaluation in workdir/metrics.jsonl plus TensorBoard scalars.

TensorBoard event files are written with tensorboardX, so no TensorFlow is needed.
"""

import json
import time
from pathlib import Path

from tensorboardX import SummaryWriter

from vit_jax.common import files
from vit_jax.common.json_values import to_json_compatible


def _truncate_jsonl(*, path: Path, last_step: int | None) -> None:
    """Keeps the lines of `path` with step <= last_step (none when last_step is None).

    A final line without its newline is the torn write of a crashed run and is dropped; any other
    unreadable line is an error.
    """
    if not path.exists():
        return
    text = path.read_text()
    lines = text.splitlines()
    if text and not text.endswith("\n"):
        lines = lines[:-1]
    kept = []
    if last_step is not None:
        for number, line in enumerate(lines, start=1):
            try:
                step = json.loads(line)["step"]
            except (json.JSONDecodeError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number} is not a metrics line with a step") from error
            if step <= last_step:
                kept.append(line + "\n")
    files.write_text(path, "".join(kept))


class MetricWriter:
    """Writes metrics to workdir/metrics.jsonl and TensorBoard event files in workdir/tensorboard/.

    Resume-safe: a run restarted from the checkpoint at step s passes resume_step=s; jsonl lines
    with step > s are dropped and TensorBoard is told to hide events with step > s (purge_step =
    s + 1), so the resumed run's logs end identical to an uninterrupted run's. A fresh run
    (resume_step=None) starts an empty metrics.jsonl and hides all earlier TensorBoard events in
    the same workdir.
    Event file names end in a nanosecond timestamp, so a restart within the same second never
    overwrites the previous file. In multi-process JAX runs, create it on process 0 only.
    """

    def __init__(self, *, workdir: str | Path, resume_step: int | None = None):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = workdir / "metrics.jsonl"
        _truncate_jsonl(path=self.jsonl_path, last_step=resume_step)
        self._jsonl = self.jsonl_path.open("a")
        self._tensorboard = SummaryWriter(
            logdir=str(workdir / "tensorboard"),
            purge_step=0 if resume_step is None else resume_step + 1,
            filename_suffix=f".{time.time_ns()}",
        )

    def write(self, *, step: int, split: str, metrics: dict) -> None:
        """Appends {"step", "split", **metrics} to metrics.jsonl; scalars also go to TensorBoard as
        '<split>/<name>'. Nested values (per_class, confusion_matrix) go to the jsonl only."""
        for reserved in ("step", "split"):
            if reserved in metrics:
                raise ValueError(
                    f"metrics must not contain the key {reserved!r}, written by write()"
                )
        record = to_json_compatible(
            {"step": int(step), "split": split, **metrics}, where=f"metrics of split {split!r}"
        )
        self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
        self._jsonl.flush()
        for name, value in record.items():
            is_scalar = isinstance(value, int | float) and not isinstance(value, bool)
            if is_scalar and name not in ("step", "split"):
                self._tensorboard.add_scalar(f"{split}/{name}", value, global_step=int(step))
        self._tensorboard.flush()

    def close(self) -> None:
        self._jsonl.close()
        self._tensorboard.close()

    def __enter__(self) -> "MetricWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
