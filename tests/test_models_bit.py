"""BiT ResNetV2 and the ViT-hybrid R50 backbone: weight standardisation, numerics vs HF transformers
BiT (pre-activation) and BiT-bottleneck with 'SAME' padding (the ViT-hybrid backbone)."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from vit_jax import models
from vit_jax.models.bit import StdConv, hybrid_backbone

TINY_STAGES = (1, 1, 1, 1)


def images(*, batch: int = 2, height: int = 64, width: int = 48, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, height, width, 3)).astype(np.float32)


def random_params(model, x, **apply_kwargs) -> dict:
    """Init shapes filled with random values (GroupNorm scales around 1, zero-init ones too)."""
    shapes = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, **apply_kwargs), x)
    rng = np.random.default_rng(7)

    def fill(path, leaf):
        if path[-1].key == "scale":
            return rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
        return (0.1 * rng.standard_normal(leaf.shape)).astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, shapes)["params"]


def to_torch_state_dict(params, name_of) -> dict:
    torch = pytest.importorskip("torch")
    leaf_names = {"kernel": "weight", "scale": "weight", "bias": "bias"}
    state = {}
    for (*path, leaf), value in traverse_util.flatten_dict(params).items():
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)
        elif value.ndim == 2:
            value = value.T
        state[f"{name_of('/'.join(path))}.{leaf_names[leaf]}"] = torch.from_numpy(np.array(value))
    return state


def hf_bit_name(path: str) -> str:
    """Our BiT / hybrid path (without the leaf) -> HF Bit module name."""
    top = {
        "head": "classifier.1",
        "conv_root": "bit.embedder.convolution",
        "gn_root": "bit.embedder.norm",
        "norm": "bit.norm",
    }
    if path in top:
        return top[path]
    block, unit, layer = path.split("/")
    stage = int(block.removeprefix("block")) - 1
    index = int(unit.removeprefix("unit")) - 1
    layer = {"conv_proj": "downsample.conv", "gn_proj": "downsample.norm"}.get(
        layer, layer.replace("gn", "norm")
    )
    return f"bit.encoder.stages.{stage}.layers.{index}.{layer}"


@pytest.mark.parametrize(("epsilon_on_std", "epsilon"), [(False, 1e-10), (True, 1e-5)])
def test_std_conv_standardises_each_output_filter(epsilon_on_std, epsilon):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 6, 5, 4)).astype(np.float32)
    kernel = (3.0 + 2.0 * rng.standard_normal((3, 3, 4, 8))).astype(np.float32)
    std_conv = StdConv(
        8, (3, 3), use_bias=False, weight_epsilon=epsilon, epsilon_on_std=epsilon_on_std
    )
    centred = kernel - kernel.mean(axis=(0, 1, 2))
    spread = kernel.std(axis=(0, 1, 2))
    divisor = spread + epsilon if epsilon_on_std else np.sqrt(spread**2 + epsilon)
    conv = nn.Conv(8, (3, 3), use_bias=False)
    expected = conv.apply({"params": {"kernel": centred / divisor}}, x)
    ours = std_conv.apply({"params": {"kernel": kernel}}, x)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(conv.apply({"params": {"kernel": kernel}}, x) - ours).max() > 1


@functools.cache
def jitted_eval(model, *, train: bool = False):
    return jax.jit(lambda v, x: model.apply(v, x, train=train))


def test_bit_matches_huggingface_preactivation_bit():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = models.create_model("BiT-R50x1", num_classes=5, num_layers=TINY_STAGES)
    x = images()
    variables = {"params": random_params(model, x, train=False)}
    config = transformers.BitConfig(
        layer_type="preactivation", depths=list(TINY_STAGES), num_labels=5
    )
    hf_model = transformers.BitForImageClassification(config).eval()
    hf_model.load_state_dict(to_torch_state_dict(variables["params"], hf_bit_name))
    with torch.no_grad():
        expected = hf_model(torch.from_numpy(x.transpose(0, 3, 1, 2))).logits.numpy()
    ours = np.asarray(jitted_eval(model)(variables, x))
    # HF standardises with epsilon 1e-8 on the variance, BiT (and we) with 1e-10.
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    train_logits = jitted_eval(model, train=True)(variables, x)
    np.testing.assert_allclose(train_logits, ours, rtol=1e-5, atol=1e-5)


class HybridBackbone(nn.Module):
    """The hybrid's R50 feature extractor alone (same parameter names as in the ViT)."""

    num_layers: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        return hybrid_backbone(
            x, num_layers=self.num_layers, width_factor=1, dtype=jnp.float32, remat=False
        )


def test_hybrid_backbone_matches_huggingface_bit_bottleneck_with_same_padding():
    """HF's ViT-hybrid / DPT-hybrid backbone: BiT 'bottleneck' layers, TF-style 'SAME' padding."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    backbone = HybridBackbone(num_layers=(1, 2))
    x = images(height=62, width=48)  # odd stride-2 inputs: 'SAME' pads asymmetrically
    params = random_params(backbone, x)
    config = transformers.BitConfig(
        layer_type="bottleneck",
        global_padding="SAME",
        embedding_dynamic_padding=True,
        depths=[1, 2],
        hidden_sizes=[256, 512],
        out_features=["stage2"],
    )
    hf_model = transformers.BitBackbone(config).eval()
    hf_model.load_state_dict(to_torch_state_dict(params, hf_bit_name))
    with torch.no_grad():
        expected = hf_model(torch.from_numpy(x.transpose(0, 3, 1, 2))).feature_maps[0].numpy()
    ours = np.asarray(jax.jit(lambda p, x: backbone.apply({"params": p}, x))(params, x))
    assert ours.shape == (2, 8, 6, 512)
    # Epsilons differ slightly: weight standardisation (std + 1e-5 vs var + 1e-8), GroupNorm
    # (1e-6 vs 1e-5); outputs are ReLU features of scale ~1.
    np.testing.assert_allclose(ours, expected.transpose(0, 2, 3, 1), rtol=1e-3, atol=1e-3)


def test_bit_remat_keeps_names_and_outputs():
    model = models.create_model("BiT-R50x1", num_classes=3, num_layers=(1, 1))
    remat = model.clone(remat=True)
    x = images(height=32, width=32)
    variables = {"params": random_params(model, x, train=False)}
    shapes = jax.eval_shape(lambda x: remat.init(jax.random.key(0), x, train=False), x)
    assert jax.tree.map(np.shape, shapes) == jax.tree.map(np.shape, variables)
    np.testing.assert_allclose(
        jitted_eval(remat)(variables, x), jitted_eval(model)(variables, x), rtol=1e-5, atol=1e-6
    )
