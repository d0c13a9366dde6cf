"""ResNet v1.5 (BatchNorm): numerics vs HF transformers ResNet in both BatchNorm modes, running
statistics, cross-device BatchNorm via axis_name, rematerialisation, long stages as a scan loop."""

import functools

import jax
import numpy as np
import pytest
from flax import traverse_util

from vit_jax import models
from vit_jax.models import layers

TINY_STAGES = (1, 1, 1, 1)


def images(*, batch: int = 2, height: int = 64, width: int = 48, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, height, width, 3)).astype(np.float32)


def random_variables(model, x) -> dict:
    """Init shapes filled with random values: BN scale/bias/mean around 0/1, variance > 0."""
    shapes = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)
    rng = np.random.default_rng(7)

    def fill(path, leaf):
        name = path[-1].key
        if name == "var":
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        if name == "scale":
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        if name == "kernel":
            fan_in = np.prod(leaf.shape[:-1])
            return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(np.float32)
        return (0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@functools.cache
def jitted_apply(model, *, train: bool):
    if train:
        return jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
    return jax.jit(lambda v, x: model.apply(v, x, train=False))


def hf_name(path: str) -> str:
    """Our BatchNorm ResNet path (without the leaf) -> HF ResNetForImageClassification module."""
    if path == "head":
        return "classifier.1"
    if path in ("conv_root", "bn_root"):
        kind = "convolution" if path == "conv_root" else "normalization"
        return f"resnet.embedder.embedder.{kind}"
    block, unit, layer = path.split("/")
    stage = int(block.removeprefix("block")) - 1
    index = int(unit.removeprefix("unit")) - 1
    prefix = f"resnet.encoder.stages.{stage}.layers.{index}"
    kind = "convolution" if layer.startswith("conv") else "normalization"
    if layer.endswith("proj"):
        return f"{prefix}.shortcut.{kind}"
    return f"{prefix}.layer.{int(layer[-1]) - 1}.{kind}"


def to_hf_resnet_state_dict(variables) -> dict[str, np.ndarray]:
    leaf_names = {"kernel": "weight", "scale": "weight", "bias": "bias"}
    leaf_names |= {"mean": "running_mean", "var": "running_var"}
    state = {}
    for collection in ("params", "batch_stats"):
        for (*path, leaf), value in traverse_util.flatten_dict(variables[collection]).items():
            if value.ndim == 4:
                value = value.transpose(3, 2, 0, 1)
            elif value.ndim == 2:
                value = value.T
            state[f"{hf_name('/'.join(path))}.{leaf_names[leaf]}"] = value
    return state


@pytest.fixture(scope="module")
def tiny_resnet():
    model = models.create_model("ResNet-50", num_classes=5, num_layers=TINY_STAGES)
    x = images()
    return model, random_variables(model, x), x


def test_matches_huggingface_resnet_in_eval_and_train_mode(tiny_resnet):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model, variables, x = tiny_resnet
    config = transformers.ResNetConfig(
        depths=list(TINY_STAGES), layer_type="bottleneck", num_labels=5
    )
    hf_model = transformers.ResNetForImageClassification(config)
    state = to_hf_resnet_state_dict(variables)
    state = {key: torch.from_numpy(np.array(value)) for key, value in state.items()}
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    pixels = torch.from_numpy(x.transpose(0, 3, 1, 2))

    with torch.no_grad():
        expected_eval = hf_model.eval()(pixels).logits.numpy()
        expected_train = hf_model.train()(pixels).logits.numpy()
    ours_eval = np.asarray(jitted_apply(model, train=False)(variables, x))
    ours_train, updated = jitted_apply(model, train=True)(variables, x)
    np.testing.assert_allclose(ours_eval, expected_eval, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(ours_train), expected_train, rtol=1e-4, atol=1e-4)
    assert np.abs(ours_train - ours_eval).max() > 1e-2

    # Running averages with torch momentum 0.1. torch updates the variance with the unbiased
    # batch variance, flax with the biased one: compare means everywhere, the stem's variance
    # (n = 2*32*24 samples, relative gap ~1e-4) loosely.
    hf_state = hf_model.state_dict()
    flat = traverse_util.flatten_dict(updated["batch_stats"], sep="/")
    for key, value in flat.items():
        if key.endswith("/mean"):
            name = hf_name(key.removesuffix("/mean")) + ".running_mean"
            np.testing.assert_allclose(value, hf_state[name].numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        flat["bn_root/var"],
        hf_state["resnet.embedder.embedder.normalization.running_var"].numpy(),
        rtol=1e-3,
    )
    initial = traverse_util.flatten_dict(variables["batch_stats"], sep="/")
    assert all(np.abs(flat[key] - initial[key]).max() > 1e-4 for key in flat)


def test_batch_norm_axis_name_averages_statistics_across_devices():
    """Two 'devices' of 2 images (vmap over axis 'data') == one batch of 4 without axis_name."""
    single = models.create_model("ResNet-50", num_classes=3, num_layers=(1,))
    sharded = single.clone(axis_name="data")
    x = images(batch=4, height=32, width=32)
    variables = random_variables(single, x)
    logits, updated = jitted_apply(single, train=True)(variables, x)
    shard_logits, shard_updated = jax.vmap(
        lambda x: sharded.apply(variables, x, train=True, mutable=["batch_stats"]),
        axis_name="data",
    )(x.reshape(2, 2, *x.shape[1:]))
    np.testing.assert_allclose(shard_logits.reshape(logits.shape), logits, rtol=1e-4, atol=1e-5)
    jax.tree.map(
        lambda s, u: np.testing.assert_allclose(s[0], u, rtol=1e-4, atol=1e-6),
        shard_updated,
        updated,
    )
    # Without the cross-device mean each shard would see different statistics.
    local = jax.vmap(lambda x: single.apply(variables, x, train=True, mutable=["batch_stats"]))(
        x.reshape(2, 2, *x.shape[1:])
    )[1]
    assert (
        np.abs(
            local["batch_stats"]["bn_root"]["mean"][0] - updated["batch_stats"]["bn_root"]["mean"]
        ).max()
        > 1e-4
    )


def test_remat_keeps_names_outputs_and_running_statistics(tiny_resnet):
    model, variables, x = tiny_resnet
    remat = model.clone(remat=True)
    shapes = jax.eval_shape(lambda x: remat.init(jax.random.key(0), x, train=False), x)
    assert jax.tree.map(np.shape, shapes) == jax.tree.map(np.shape, variables)
    logits, updated = jitted_apply(model, train=True)(variables, x)
    remat_logits, remat_updated = jitted_apply(remat, train=True)(variables, x)
    np.testing.assert_allclose(remat_logits, logits, rtol=1e-5, atol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), remat_updated, updated
    )


@pytest.mark.parametrize("remat", [False, True])
def test_scanned_stage_equals_unrolled_units_in_outputs_statistics_and_gradients(
    monkeypatch, remat
):
    model = models.create_model("ResNet-50", num_classes=5, num_layers=(1, 4, 1, 1), remat=remat)
    x = images()
    variables = random_variables(model, x)
    assert "unit4" in variables["params"]["block2"]

    def loss_and_stats(variables, x):
        logits, updated = model.apply(variables, x, train=True, mutable=["batch_stats"])
        return (logits**2).sum(), (logits, updated)

    def run():
        grad = jax.jit(jax.grad(loss_and_stats, has_aux=True))
        return grad(variables, x), jitted_apply(model, train=False)(variables, x)

    monkeypatch.setattr(layers, "SCAN_MIN_REPEATS", 100)
    unrolled = run()
    monkeypatch.setattr(layers, "SCAN_MIN_REPEATS", 2)
    scanned = run()
    assert jax.tree.structure(scanned) == jax.tree.structure(unrolled)
    assert float(np.abs(unrolled[1]).max()) > 1e-2
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), scanned, unrolled
    )
