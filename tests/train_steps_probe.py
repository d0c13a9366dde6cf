"""Runs a few data-parallel training steps of tiny models and saves the results (used by
tests/test_train_parallel.py in subprocesses, so each run chooses its own device count).

  python tests/train_steps_probe.py OUTPUT.npz [--fsdp] [COORDINATOR NUM_PROCESSES PROCESS_ID]

With --fsdp the parameters and optimizer state are sharded over the devices
(vit_jax.training.sharding), and the share of each array one device holds is saved too
('<model>/share/<path>').

Two models: a one-stage BatchNorm ResNet (batch statistics averaged over devices) and a
one-layer ViT. Both take GLOBAL_BATCH examples per update as 2 accumulated micro-batches, SGD
with momentum and clipping (the paper recipe's optimizer). In a multi-process run each process
feeds its own slice of every batch, as the input pipeline does. Saved: per-step losses and the
final variables of each model (losses per update), flattened to '<model>/<path>' keys.
"""

import sys

import jax
import ml_collections
import numpy as np
from flax import traverse_util
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vit_jax import models
from vit_jax.training import optim, parallel, sharding, steps, train_state

GLOBAL_BATCH = 16
ACCUM = 2
UPDATES = 3
MODELS = {
    "ResNet-50": {"num_layers": (1,), "axis_name": parallel.DATA_AXIS},
    "ViT-Ti_16": {
        "patches": (4, 4),
        "hidden_size": 16,
        "mlp_dim": 32,
        "num_heads": 2,
        "num_layers": 1,
    },
}
RECIPE = ml_collections.ConfigDict(
    {
        "optimizer": "sgd",
        "learning_rate": 0.1,
        "schedule": "cosine",
        "warmup_steps": 1,
        "momentum": 0.9,
        "grad_clip_norm": 1.0,
        "grad_accum_steps": ACCUM,
    }
)


def run(name: str, overrides: dict, mesh: jax.sharding.Mesh, fsdp: bool) -> dict[str, np.ndarray]:
    model = models.create_model(name, num_classes=3, **overrides)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(UPDATES * GLOBAL_BATCH, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=UPDATES * GLOBAL_BATCH).astype(np.int32)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(images[:1])
    params = train_state.init_head(
        params=variables["params"], model_name=name, head_init="hf", seed=0
    )
    optimizer, _ = optim.create_optimizer(recipe=RECIPE, total_updates=UPDATES, clip=not fsdp)
    state, specs = sharding.initial_state(
        variables=jax.device_get({**variables, "params": params}),
        optimizer=optimizer,
        mesh=mesh,
        sharding="fsdp" if fsdp else "replicate",
    )
    train_step = steps.data_parallel_train_step(
        mesh=mesh,
        model=model,
        optimizer=optimizer,
        seed=0,
        accum_steps=ACCUM,
        state_specs=specs,
        clip_norm=RECIPE.grad_clip_norm if fsdp else None,
    )
    micro = GLOBAL_BATCH // ACCUM
    local = micro // jax.process_count()
    losses = []
    for start in range(0, len(images), GLOBAL_BATCH):  # this process's part of each micro-batch
        first = start + jax.process_index() * local
        mine = np.concatenate(
            [np.arange(first + j * micro, first + j * micro + local) for j in range(ACCUM)]
        )
        batch = {
            "image": images[mine],
            "label": labels[mine],
            "mask": np.ones(len(mine), np.float32),
        }
        batch = parallel.shard_batch(batch, mesh=mesh, accum_steps=ACCUM)
        state, metrics = train_step(state, batch)
        losses.append(metrics["loss"])
    shares = {}
    if fsdp:  # what one device holds of each parameter and optimizer-state array
        held = {"params": state.params, "opt_state": state.opt_state}
        for path, x in traverse_util.flatten_dict(_as_dict(held), sep="/").items():
            shares[f"share/{path}"] = np.asarray(x.addressable_shards[0].data.size / x.size)
    whole = jax.jit(lambda x: x, out_shardings=NamedSharding(mesh, P()))(state.variables)
    flat = traverse_util.flatten_dict(jax.device_get(whole), sep="/")
    return {"losses": np.asarray(jax.device_get(losses)), **flat, **shares}


def _as_dict(tree) -> dict:
    """`tree` (with optax's named tuples) as nested dicts keyed by position or field name."""
    if isinstance(tree, dict):
        return {str(k): _as_dict(v) for k, v in tree.items()}
    if isinstance(tree, tuple):
        fields = getattr(tree, "_fields", None) or [str(i) for i in range(len(tree))]
        return {str(f): _as_dict(v) for f, v in zip(fields, tree, strict=True)}
    return tree


def main() -> None:
    output, rest = sys.argv[1], sys.argv[2:]
    fsdp = rest[:1] == ["--fsdp"]
    rest = rest[1:] if fsdp else rest
    if rest:
        address, num_processes, process_id = rest[0], int(rest[1]), int(rest[2])
        parallel.initialize_distributed(
            coordinator_address=address, num_processes=num_processes, process_id=process_id
        )
    mesh = parallel.create_mesh()
    results = {}
    for name, overrides in MODELS.items():
        for key, value in run(name, overrides, mesh, fsdp).items():
            results[f"{name}/{key}"] = value
    results["device_count"] = np.asarray(jax.device_count())
    np.savez(output, **results)


if __name__ == "__main__":
    main()
