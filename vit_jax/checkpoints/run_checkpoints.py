"""Checkpoints of a training run (workdir/checkpoints), with orbax.checkpoint.CheckpointManager.

Each checkpoint holds three items: 'state' (the TrainState), 'data' (the grain training iterator,
one file per process, through grain's Orbax handler) and 'progress' (JSON: history and counters
kept on the host). Saving is asynchronous; Orbax writes into a temporary folder and renames it
when complete, so a run killed during a save resumes from the previous checkpoint. Kept: the
latest `keep` checkpoints and the one with the best validation accuracy.
"""

from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

BEST_METRIC = "val_accuracy"


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
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, cleanup_tmp_directories=True)
    return ocp.CheckpointManager(Path(directory).absolute(), options=options)


def save(
    *,
    manager: ocp.CheckpointManager,
    step: int,
    state: Any,
    data_iterator: grain.DataLoaderIterator,
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
    data_iterator: grain.DataLoaderIterator,
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
