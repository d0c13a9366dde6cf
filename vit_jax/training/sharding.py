"""Where the training state lives: replicated on every device (`'replicate'`, the default), or
sharded over the devices of the data axis (`'fsdp'`: fully sharded data parallelism, as ZeRO-3 and
big_vision's fsdp strategy).

With 'fsdp' each large array of the parameters and of the optimizer state (Adam's moments, SGD's
momentum) is split along its largest dimension that the device count divides (over DATA_AXIS);
arrays with fewer than MIN_ELEMENTS_PER_DEVICE elements per device, scalars and BatchNorm
statistics stay replicated. The rule depends only on an array's shape, so a parameter and its
optimizer moments are split alike. Inside the train step (vit_jax.training.steps) every device
gathers the whole parameters for the forward and backward pass, and each keeps the mean gradient
of its own shard (a reduce-scatter instead of the all-reduce) and updates only its shard: a
device holds 1/N of the parameters and optimizer state between steps. The gradient norm (for
clipping and the logs) is taken over the whole gradient, so both layouts train alike.
"""

import math
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from vit_jax.training import parallel
from vit_jax.training.parallel import DATA_AXIS
from vit_jax.training.train_state import TrainState, create_train_state

SHARDINGS = ("replicate", "fsdp")
MIN_ELEMENTS_PER_DEVICE = 16


def fsdp_spec(shape: tuple[int, ...], *, devices: int) -> P:
    """The PartitionSpec of an array of `shape` under 'fsdp' over `devices` devices."""
    if devices == 1 or math.prod(shape) < MIN_ELEMENTS_PER_DEVICE * devices:
        return P()
    divisible = [axis for axis, size in enumerate(shape) if size % devices == 0]
    if not divisible:
        return P()
    axis = max(divisible, key=lambda a: (shape[a], -a))
    return P(*([None] * axis), DATA_AXIS)


def state_specs(state: TrainState, *, sharding: str, devices: int) -> TrainState:
    """A TrainState of PartitionSpecs: `state`'s layout under `sharding` on `devices` devices."""
    if sharding not in SHARDINGS:
        raise ValueError(f"sharding {sharding!r} is not one of {SHARDINGS}")

    def spec(x: Any) -> P:
        return fsdp_spec(np.shape(x), devices=devices) if sharding == "fsdp" else P()

    return TrainState(
        step=P(),
        params=jax.tree.map(spec, state.params),
        batch_stats=jax.tree.map(lambda _: P(), state.batch_stats),
        opt_state=jax.tree.map(spec, state.opt_state),
    )


def initial_state(
    *, variables: dict, optimizer: optax.GradientTransformation, mesh: Mesh, sharding: str
) -> tuple[TrainState, TrainState | None]:
    """(the first TrainState laid out on `mesh` as `sharding` says, its PartitionSpecs; None for
    'replicate', whose steps take the whole state on every device). Under 'fsdp' each device
    receives only its shards: the whole state is never formed on one device."""

    def build(variables: dict) -> TrainState:
        return create_train_state(variables=variables, optimizer=optimizer)

    replicated = parallel.replicate(variables, mesh=mesh)
    if sharding == "replicate":
        return jax.jit(build, out_shardings=NamedSharding(mesh, P()))(replicated), None
    specs = state_specs(jax.eval_shape(build, replicated), sharding=sharding, devices=mesh.size)
    layout = jax.tree.map(lambda spec: NamedSharding(mesh, spec), specs)
    return jax.jit(build, out_shardings=layout)(replicated), specs
