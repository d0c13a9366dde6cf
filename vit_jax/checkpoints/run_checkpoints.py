"""Checkpoints of a training run (workdir/checkpoints), with orbax.checkpoint.CheckpointManager.

Each checkpoint holds three items: 'state' (the TrainState), 'data' (the grain training iterator's
state, one file per process, through grain's Orbax handler: `data_iterator` is a
grain.DataLoaderIterator or a wrapper with its get_state/set_state, such as
vit_jax.training.prefetch.DevicePrefetch) and 'progress' (JSON: history and counters
kept on the host). Saving is asynchronous; Orbax writes into a temporary folder and renames it
when complete, so a run killed during a save resumes from the previous checkpoint. Kept: the
latest `keep` checkpoints (so always the final one) and the one with the best validation
accuracy, also across any number of resumptions (each checkpoint's metrics are saved with it and
read back by the next run). A checkpoint that cannot be restored (truncated or missing files,
garbled JSON) is reported, moved to `damaged/` beside the checkpoints, and the next older one is
used.
"""

import logging
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from vit_jax.common.errors import UserError

BEST_METRIC = "val_accuracy"
DAMAGED_DIR = "damaged"


class NoIntactCheckpointError(UserError):
    """Every checkpoint of a run failed to restore."""


class _QuietOrbax(logging.Filter):
    """Orbax warns at every save without metrics when it tracks a metric (only epoch ends have
    one, by design) and whenever a manager reads without writing (as exports do): both say
    nothing to a user."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        quiet = (
            "did not provide metrics",
            "directory is read only",
            "read_only=True, setting",
            "Metadata file does not exist",  # a step's item read on its own, as exports do
        )
        return not any(text in message for text in quiet)


logging.getLogger("absl").addFilter(_QuietOrbax())


def create_manager(*, directory: Path, keep: int) -> ocp.CheckpointManager:
    policy = checkpoint_managers.AnyPreservationPolicy(
        [
            checkpoint_managers.LatestN(n=keep),
            checkpoint_managers.BestN(
                get_metric_fn=lambda metrics: metrics[BEST_METRIC],
                n=1,
                keep_checkpoints_without_metrics=False,
            ),
        ]
    )
    options = ocp.CheckpointManagerOptions(
        preservation_policy=policy,
        cleanup_tmp_directories=True,
        # best_fn makes Orbax save each checkpoint's metrics and read them back when a run is
        # resumed; without it a resumed manager knows no metric and deletes the best checkpoint.
        best_fn=lambda metrics: metrics[BEST_METRIC],
        keep_checkpoints_without_metrics=True,
    )
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save(
    *,
    manager: ocp.CheckpointManager,
    step: int,
    state: Any,
    data_iterator: Any,
    progress: dict,
    val_accuracy: float | None,
) -> None:
    """Starts saving; the state is copied off the devices before this returns."""
    manager.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(data_iterator),
            progress=ocp.args.JsonSave(progress),
        ),
        metrics=None if val_accuracy is None else {BEST_METRIC: val_accuracy},
    )


def restore_progress(*, manager: ocp.CheckpointManager, step: int) -> dict:
    """The 'progress' item of checkpoint `step`."""
    return manager.restore(step, args=ocp.args.Composite(progress=ocp.args.JsonRestore())).progress


def restore(
    *,
    manager: ocp.CheckpointManager,
    step: int,
    state: Any,
    data_iterator: Any,
) -> Any:
    """The state of checkpoint `step` (`state` gives structure and shardings); `data_iterator` is
    moved to the saved position."""
    target = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state
    )
    restored = manager.restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target),
            data=grain.checkpoint.CheckpointRestore(data_iterator),
        ),
    )
    return restored.state


def restore_latest_intact(
    *,
    manager: ocp.CheckpointManager,
    state: Any,
    data_iterator: Any,
    check_progress: Callable[[dict], None],
) -> tuple[int, dict, Any] | None:
    """(step, progress, state) of the newest checkpoint that restores, or None when there is
    none. `check_progress(progress)` may refuse the run (its error propagates) before the state
    is read. Checkpoints newer than the one used are reported and moved to damaged/ (kept, so
    nothing is lost); NoIntactCheckpointError when none restores."""
    directory = Path(manager.directory)
    failures = []
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            progress = restore_progress(manager=manager, step=step)
        except Exception as error:  # damage shows as OSError, JSON, Orbax or tensorstore errors
            failures.append((step, error))
            continue
        check_progress(progress)
        try:
            restored = restore(manager=manager, step=step, state=state, data_iterator=data_iterator)
        except Exception as error:  # as above
            failures.append((step, error))
            continue
        _set_aside(manager=manager, steps=[s for s, _ in failures])
        for failed, error in failures:
            print(
                f"warning: checkpoint {failed} in {directory} cannot be restored "
                f"({_reason(error)}); moved to {directory / DAMAGED_DIR}, resuming from step "
                f"{step}",
                file=sys.stderr,
            )
        return step, progress, restored
    if failures:
        reasons = "; ".join(f"step {step}: {_reason(error)}" for step, error in failures)
        raise NoIntactCheckpointError(
            f"no checkpoint in {directory} can be restored ({reasons}); move {directory} "
            "elsewhere (or delete it) to start the run again"
        )
    return None


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def _set_aside(*, manager: ocp.CheckpointManager, steps: list[int]) -> None:
    """Moves checkpoints `steps` into DAMAGED_DIR (process 0) and lets the manager forget them."""
    if not steps:
        return
    if jax.process_index() == 0:
        damaged = Path(manager.directory) / DAMAGED_DIR
        damaged.mkdir(exist_ok=True)
        for step in steps:
            target = damaged / str(step)
            if target.exists():
                shutil.rmtree(target)
            (Path(manager.directory) / str(step)).rename(target)
    ocp.multihost.sync_global_processes("vit_jax:set_aside_damaged_checkpoints")
    manager.reload()
