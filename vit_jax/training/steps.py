"""Per-device training and evaluation steps, wrapped by vit_jax.training.parallel.data_parallel.

Inside a step each device holds its shard of the batch and the whole (replicated) state. Gradients
and the loss are averaged over DATA_AXIS with lax.pmean; BatchNorm layers built with
axis_name=DATA_AXIS average their batch statistics the same way, so N devices with B/N examples
each compute the same update as one device with all B.
"""

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax import lax
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from vit_jax.data.preprocessing import Normalisation, normalise_on_device
from vit_jax.training.parallel import DATA_AXIS, batch_spec, data_parallel, gather_axis
from vit_jax.training.train_state import TrainState

Batch = dict[str, jax.Array]


def make_train_step(
    *,
    model: nn.Module,
    optimizer: optax.GradientTransformation,
    seed: int,
    accum_steps: int = 1,
    normalisation: Normalisation | None = None,
    param_specs: Any = None,
    clip_norm: float | None = None,
) -> Callable[[TrainState, Batch], tuple[TrainState, dict]]:
    """(state, batch shard) -> (state after one optimizer update, {"loss", "grad_norm"}).

    The loss is the mean softmax cross-entropy over the whole (global) batch. With `accum_steps`
    > 1 the shard is (accum_steps, micro-batch, ...): the micro-batches run one after the other
    (lax.scan), their gradients are summed on the device and averaged across devices once per
    update, as the original vit_jax accumulates them (one all-reduce of the gradients instead
    of one per micro-batch); BatchNorm statistics follow the micro-batches in order. Dropout
    keys depend on `seed`, the micro-batch counter `state.step` and the device, so a resumed run
    draws the same masks. With `normalisation` the batch holds uint8 pixels, normalised here.

    With `param_specs` (the 'fsdp' layout of vit_jax.training.sharding) the parameters and the
    optimizer state arrive as this device's shards: the whole parameters are gathered for the
    passes, each device keeps its shard of the mean gradient (reduce-scatter) and updates its
    shards; the gradient is then clipped here at `clip_norm` (the optimizer must not clip: it
    would see only its shard's norm).
    """

    def micro_step(state: TrainState, batch_stats, index, batch: Batch):
        """(loss, new batch statistics, gradient) of one micro-batch on this device."""
        dropout_key = jax.random.fold_in(
            jax.random.fold_in(jax.random.key(seed), state.step + index),
            lax.axis_index(DATA_AXIS),
        )
        mutable = ["batch_stats"] if batch_stats else False

        def loss_fn(params: dict) -> tuple[jax.Array, dict]:
            variables = {"params": params, **({"batch_stats": batch_stats} if batch_stats else {})}
            output = model.apply(
                variables,
                _images(batch, normalisation),
                train=True,
                rngs={"dropout": dropout_key},
                mutable=mutable,
            )
            logits, new_variables = output if mutable else (output, {})
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
            return loss, new_variables.get("batch_stats", {})

        # state.params are whole_parameters: varying over DATA_AXIS, so autodiff does not sum
        # over devices on its own; the average is the explicit pmean (or reduce-scatter).
        (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        return loss, new_stats, grads

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        shards = state.params
        state = state.replace(params=whole_parameters(shards, param_specs))
        if accum_steps == 1:
            loss, batch_stats, grads = micro_step(state, state.batch_stats, 0, batch)
        else:

            def body(carry, inputs):
                loss_sum, stats, grad_sum = carry
                loss, stats, grads = micro_step(state, stats, *inputs)
                return (loss_sum + loss, stats, jax.tree.map(jnp.add, grad_sum, grads)), None

            zeros = jax.tree.map(jnp.zeros_like, state.params)
            start = (lax.pcast(jnp.zeros(()), DATA_AXIS, to="varying"), state.batch_stats, zeros)
            (loss, batch_stats, grads), _ = lax.scan(body, start, (jnp.arange(accum_steps), batch))
            loss, grads = loss / accum_steps, jax.tree.map(lambda g: g / accum_steps, grads)
        if param_specs is None:
            grads = lax.pmean(grads, DATA_AXIS)
            grad_norm = optax.tree_utils.tree_norm(grads)
        else:
            grads, grad_norm = _mean_gradient_shards(grads, param_specs)
            if clip_norm:  # as optax.clip_by_global_norm, with the whole gradient's norm
                grads = jax.tree.map(
                    lambda g: lax.select(grad_norm < clip_norm, g, g / grad_norm * clip_norm),
                    grads,
                )
        updates, opt_state = optimizer.update(grads, state.opt_state, shards)
        new_state = state.replace(
            step=state.step + accum_steps,
            params=optax.apply_updates(shards, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )
        metrics = {"loss": lax.pmean(loss, DATA_AXIS), "grad_norm": grad_norm}
        return new_state, metrics

    return train_step


def whole_parameters(params: Any, specs: Any) -> Any:
    """The whole parameters on this device, marked as varying over DATA_AXIS so that autodiff
    gives each device its own gradient: replicated arrays as they are, the shards of 'fsdp'
    arrays gathered (`specs` None: all replicated)."""

    def whole(x: jax.Array, spec: P | None) -> jax.Array:
        axis = None if spec is None else gather_axis(spec)
        if axis is None:
            return lax.pcast(x, DATA_AXIS, to="varying")
        return lax.all_gather(x, DATA_AXIS, axis=axis, tiled=True)

    if specs is None:
        return jax.tree.map(lambda x: whole(x, None), params)
    return jax.tree.map(whole, params, specs)


def _mean_gradient_shards(grads: Any, specs: Any) -> tuple[Any, jax.Array]:
    """(this device's shard of the gradient averaged over DATA_AXIS, the whole gradient's norm)
    from each device's whole gradient."""
    devices = lax.axis_size(DATA_AXIS)

    def shard(g: jax.Array, spec: P) -> jax.Array:
        axis = gather_axis(spec)
        if axis is None:
            return lax.pmean(g, DATA_AXIS)
        return lax.psum_scatter(g, DATA_AXIS, scatter_dimension=axis, tiled=True) / devices

    shards = jax.tree.map(shard, grads, specs)
    pairs = list(zip(jax.tree.leaves(shards), jax.tree.leaves(specs), strict=True))
    split = [jnp.sum(jnp.square(g)) for g, s in pairs if gather_axis(s) is not None]
    whole = [jnp.sum(jnp.square(g)) for g, s in pairs if gather_axis(s) is None]
    total = lax.psum(sum(split, jnp.zeros(())), DATA_AXIS) + sum(whole, jnp.zeros(()))
    return shards, jnp.sqrt(total)


def data_parallel_train_step(
    *, mesh: Mesh, accum_steps: int = 1, state_specs: Any = None, **step_fields
) -> Callable:
    """make_train_step(accum_steps=..., **step_fields) compiled over `mesh`: state donated, laid
    out as `state_specs` (a TrainState of PartitionSpecs, vit_jax.training.sharding; None:
    replicated), the batch split over DATA_AXIS (vit_jax.training.parallel.batch_spec)."""
    specs = P() if state_specs is None else state_specs
    param_specs = None if state_specs is None else state_specs.params
    return data_parallel(
        make_train_step(accum_steps=accum_steps, param_specs=param_specs, **step_fields),
        mesh=mesh,
        in_specs=(specs, batch_spec(accum_steps=accum_steps)),
        out_specs=(specs, P()),
        donate_argnums=(0,),
    )


def _images(batch: Batch, normalisation: Normalisation | None) -> jax.Array:
    if normalisation is None:
        return batch["image"]
    return normalise_on_device(images=batch["image"], normalisation=normalisation)


def make_eval_step(
    *,
    model: nn.Module,
    logits_fn: Callable[[jax.Array], jax.Array] | None = None,
    normalisation: Normalisation | None = None,
) -> Callable[[dict, Batch], Batch]:
    """(variables, batch shard) -> per-example prediction, loss, label and mask of the shard.

    `logits_fn` maps the model's logits onto the dataset's classes (e.g. ImageNet-1k -> footwear);
    with `normalisation` the batch holds uint8 pixels, normalised here.
    """

    def eval_step(variables: dict, batch: Batch) -> Batch:
        logits = model.apply(variables, _images(batch, normalisation), train=False)
        if logits_fn is not None:
            logits = logits_fn(logits)
        return {
            "prediction": jnp.argmax(logits, axis=-1),
            "loss": optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]),
            "label": batch["label"],
            "mask": batch["mask"],
        }

    return eval_step
