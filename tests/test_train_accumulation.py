"""Gradient accumulation: one train step per update sums the micro-batch gradients on the device
and averages them across devices once (one all-reduce of the gradients per update, however
many micro-batches), with the results of the per-micro-batch steps and optax.MultiSteps it
replaced (within 1e-6), BatchNorm statistics included."""

import re

import jax
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vit_jax import models
from vit_jax.training import parallel, steps, train_state

ACCUM = 4
MODELS = {
    "ViT-Ti_16": dict(patches=(4, 4), hidden_size=16, mlp_dim=32, num_heads=2, num_layers=2),
    "ResNet-50": dict(num_layers=(1, 1), axis_name=parallel.DATA_AXIS),
}


def _setup(name):
    mesh = parallel.create_mesh()
    model = models.create_model(name, num_classes=3, **MODELS[name])
    rng = np.random.default_rng(0)
    batch = {
        "image": rng.normal(size=(16, 16, 16, 3)).astype(np.float32),
        "label": rng.integers(0, 3, 16).astype(np.int32),
        "mask": np.ones(16, np.float32),
    }
    variables = model.init(jax.random.key(0), batch["image"][:1], train=False)
    params = train_state.init_head(
        params=variables["params"], model_name=name, head_init="hf", seed=0
    )
    return mesh, model, {**variables, "params": params}, batch


def _state(variables, optimizer, mesh):
    return jax.jit(
        lambda v: train_state.create_train_state(variables=v, optimizer=optimizer),
        out_shardings=NamedSharding(mesh, P()),
    )(parallel.replicate(variables, mesh=mesh))


def _step(model, optimizer, mesh, accum):
    return steps.data_parallel_train_step(
        mesh=mesh, model=model, optimizer=optimizer, seed=0, accum_steps=accum
    )


@pytest.mark.parametrize("name", list(MODELS))
def test_one_accumulating_step_equals_per_micro_batch_steps_with_multisteps(name):
    mesh, model, variables, batch = _setup(name)
    sgd = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1, momentum=0.9))
    old_optimizer = optax.MultiSteps(sgd, every_k_schedule=ACCUM)
    old, new = _state(variables, old_optimizer, mesh), _state(variables, sgd, mesh)
    old_step, new_step = _step(model, old_optimizer, mesh, 1), _step(model, sgd, mesh, ACCUM)
    for _ in range(2):  # two updates
        losses = []
        for piece in np.split(np.arange(16), ACCUM):
            micro = {key: value[piece] for key, value in batch.items()}
            old, metrics = old_step(old, parallel.shard_batch(micro, mesh=mesh))
            losses.append(metrics["loss"])
        new, metrics = new_step(new, parallel.shard_batch(batch, mesh=mesh, accum_steps=ACCUM))
        np.testing.assert_allclose(metrics["loss"], np.mean(losses), rtol=1e-6)
    assert int(new.step) == int(old.step) == 2 * ACCUM
    for a, b in zip(jax.tree.leaves(old.variables), jax.tree.leaves(new.variables), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(
            jax.tree.leaves(variables["params"]), jax.tree.leaves(new.params), strict=True
        )
    )


def test_an_update_all_reduces_the_gradients_once_however_many_micro_batches():
    mesh, model, variables, batch = _setup("ViT-Ti_16")
    sgd = optax.sgd(0.1)
    counts = {}
    for accum in (1, ACCUM):
        state = _state(variables, sgd, mesh)
        shards = parallel.shard_batch(batch, mesh=mesh, accum_steps=accum)
        jaxpr = str(jax.make_jaxpr(_step(model, sgd, mesh, accum))(state, shards))
        counts[accum] = len(re.findall(r"\bpsum\w*\[", jaxpr))  # psum, psum_invariant
    # lax.pmean reduces each gradient leaf, and the loss, once per update: none in the scanned
    # micro-batches (the old per-micro-batch steps made ACCUM times as many per update).
    once = len(jax.tree.leaves(variables["params"])) + 1
    assert counts == {1: once, ACCUM: once}
