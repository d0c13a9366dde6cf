"""Data parallelism over a 1-D device mesh with axis 'data', in the pmap style via jax.shard_map.

Each device runs a step on its shard of the batch; the step averages what must agree across devices
with lax.pmean over DATA_AXIS. The training state is replicated (PartitionSpec()), batches are split
along their first axis (PartitionSpec('data')). Multi-process runs (jax.distributed) use the same
mesh over the devices of all processes; each process feeds its own part of every batch.
"""

import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


# Environment variables by which a cluster launcher says a process is one of several: Slurm
# (srun; all five are what jax.distributed's own detection reads) and Open MPI (mpirun).
CLUSTER_ENVIRONMENTS = {
    "Slurm": (
        "SLURM_NTASKS",
        ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_PROCID", "SLURM_LOCALID"),
    ),
    "Open MPI": ("OMPI_COMM_WORLD_SIZE", ("OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_RANK")),
}


def detected_cluster() -> str | None:
    """The launcher ('Slurm', 'Open MPI') that started this process as one of several, or None."""
    for name, (count, others) in CLUSTER_ENVIRONMENTS.items():
        size = os.environ.get(count, "1")
        if size.isdigit() and int(size) > 1 and all(v in os.environ for v in others):
            return name
    return None


def initialize_distributed(
    *, coordinator_address: str, num_processes: int, process_id: int
) -> None:
    """Joins a multi-process JAX run: with `coordinator_address` set, as the flags say; without
    it, when a cluster launcher started this process as one of several (detected_cluster),
    through jax.distributed's own detection of that launcher (coordinator, process count and id
    from its environment); otherwise a no-op.

    CPU devices exchange collectives through gloo, so the same code runs on CPU-only hosts.
    Must run before any other JAX call.
    """
    if not coordinator_address and detected_cluster() is None:
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if not coordinator_address:
        jax.distributed.initialize()
        return
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
    )


def create_mesh() -> Mesh:
    """A mesh over all devices of all processes, with the single axis DATA_AXIS."""
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicate(tree: Any, *, mesh: Mesh) -> Any:
    """`tree` (identical in every process) as global arrays replicated on every device of `mesh`."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def gather_axis(spec: P) -> int | None:
    """The axis an array laid out as `spec` is split along over DATA_AXIS; None if replicated."""
    return next((axis for axis, name in enumerate(spec) if name == DATA_AXIS), None)


def batch_spec(*, accum_steps: int = 1) -> P:
    """How a train step's batch is split: along the batch axis, which follows the micro-batch
    axis when gradients are accumulated."""
    return P(DATA_AXIS) if accum_steps == 1 else P(None, DATA_AXIS)


def shard_batch(
    batch: dict[str, np.ndarray], *, mesh: Mesh, accum_steps: int = 1
) -> dict[str, jax.Array]:
    """This process's part of a batch (as yielded by the input pipeline) as global arrays split
    along the batch axis over DATA_AXIS; with `accum_steps` > 1 first cut into that many
    consecutive micro-batches, (accum_steps, micro-batch, ...)."""
    sharding = NamedSharding(mesh, batch_spec(accum_steps=accum_steps))
    if accum_steps > 1:
        batch = {
            name: value.reshape(accum_steps, -1, *value.shape[1:]) for name, value in batch.items()
        }
    return {
        name: jax.make_array_from_process_local_data(sharding, value)
        for name, value in batch.items()
    }


def data_parallel(
    step: Callable, *, mesh: Mesh, in_specs: tuple, out_specs: Any, donate_argnums: tuple = ()
) -> Callable:
    """jit(shard_map(step)): `step` sees per-device shards and may use collectives over
    DATA_AXIS."""
    return jax.jit(
        jax.shard_map(step, mesh=mesh, in_specs=in_specs, out_specs=out_specs),
        donate_argnums=donate_argnums,
    )


def gather(tree: Any) -> Any:
    """Arrays split over DATA_AXIS as whole numpy arrays on every process."""
    return multihost_utils.process_allgather(tree, tiled=True)


def compile_ahead(
    train_step: Callable,
    *,
    state: Any,
    mesh: Mesh,
    batch_size: int,
    image_size: tuple[int, int],
    accum_steps: int = 1,
) -> Callable:
    """`train_step` compiled ahead of time for global batches of `batch_size` images as the
    loader yields them for the loop ({image uint8, label int32, mask float32}), so that
    compilation is timed on its own instead of inside the first epoch."""
    size = batch_size // jax.process_count()
    example = {
        "image": np.zeros((size, *image_size, 3), np.uint8),
        "label": np.zeros((size,), np.int32),
        "mask": np.ones((size,), np.float32),
    }
    batch = shard_batch(example, mesh=mesh, accum_steps=accum_steps)
    return train_step.lower(state, batch).compile()
