"""ViT and R50+ViT hybrid: parameter trees vs the released .npz layouts, numerics vs HF
transformers, zero-initialised head, dropout, bfloat16 compute and rematerialisation."""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checkpoint_writers import npz_layout
from flax import traverse_util

from vit_jax import models
from vit_jax.checkpoints.pre_linen import pre_linen_to_linen
from vit_jax.kernels.attention import dot_product_attention
from vit_jax.models.vit import EncoderBlock

TINY = {"hidden_size": 32, "mlp_dim": 64, "num_heads": 4, "num_layers": 2, "patches": (8, 8)}


def abstract_param_shapes(name: str, **overrides) -> dict[str, tuple[int, ...]]:
    model = models.create_model(name, **overrides)
    variables = jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False)
    )
    flat = traverse_util.flatten_dict(variables["params"], sep="/")
    return {key: tuple(leaf.shape) for key, leaf in flat.items()}


def perturbed(variables, scale: float = 0.05):
    """Adds N(0, scale^2) noise to every tensor, so zero-initialised ones take part too."""
    rng = np.random.default_rng(42)
    return jax.tree.map(
        lambda x: (np.asarray(x) + scale * rng.standard_normal(x.shape)).astype(np.float32),
        variables,
    )


def tiny_vit(**overrides):
    return models.create_model("ViT-B_16", num_classes=5, **{**TINY, **overrides})


def images(*, batch: int = 2, height: int = 32, width: int = 32, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (batch, height, width, 3)).astype(np.float32)


def test_vit_b16_tree_matches_imagenet21k_npz_layout():
    reference = pre_linen_to_linen(npz_layout("ViT-B_16 imagenet21k"))
    ours = abstract_param_shapes("ViT-B_16", num_classes=21843, representation_size=768)
    assert ours == reference
    assert "Transformer/encoderblock_11/MultiHeadDotProductAttention_0/query/kernel" in ours


def test_hybrid_tree_matches_r50_vit_b16_npz_layout():
    reference = {
        key: shape[3:] if "/gn" in f"/{key}" else shape
        for key, shape in pre_linen_to_linen(npz_layout("R50+ViT-B_16 imagenet21k")).items()
    }
    ours = abstract_param_shapes("R50+ViT-B_16", num_classes=21843, representation_size=768)
    assert ours == reference


def test_pre_linen_to_linen_renumbers_per_class():
    flat = {
        "Transformer/encoderblock_10/LayerNorm_0/scale": 0,
        "Transformer/encoderblock_10/MultiHeadDotProductAttention_1/out/bias": 1,
        "Transformer/encoderblock_10/LayerNorm_2/bias": 2,
        "Transformer/encoderblock_10/MlpBlock_3/Dense_0/kernel": 3,
        "Transformer/encoderblock_10/MlpBlock_3/Dense_1/bias": 4,
        "Transformer/encoderblock_2/LayerNorm_0/scale": 5,
        "block1/unit1/gn_proj/scale": 6,
        "cls": 7,
    }
    expected = {
        "Transformer/encoderblock_10/LayerNorm_0/scale": 0,
        "Transformer/encoderblock_10/MultiHeadDotProductAttention_0/out/bias": 1,
        "Transformer/encoderblock_10/LayerNorm_1/bias": 2,
        "Transformer/encoderblock_10/MlpBlock_0/Dense_0/kernel": 3,
        "Transformer/encoderblock_10/MlpBlock_0/Dense_1/bias": 4,
        "Transformer/encoderblock_2/LayerNorm_0/scale": 5,
        "block1/unit1/gn_proj/scale": 6,
        "cls": 7,
    }
    assert pre_linen_to_linen(flat) == expected
    assert pre_linen_to_linen(expected) == expected


@pytest.fixture(scope="module")
def dropout_vit():
    """A tiny ViT with dropout, attention dropout and pre-logits; its init and perturbed params."""
    model = tiny_vit(dropout_rate=0.1, attention_dropout_rate=0.1, representation_size=16)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(images())
    return model, variables, perturbed(variables)


@functools.cache
def jitted_apply(model, *, train: bool):
    """One compiled forward per (model, mode), reused across tests."""
    if train:
        return jax.jit(lambda v, x, k: model.apply(v, x, train=True, rngs={"dropout": k}))
    return jax.jit(lambda v, x: model.apply(v, x, train=False))


def evaluate(model, variables, x):
    return jitted_apply(model, train=False)(variables, x)


def train_forward(model, variables, x, key):
    return jitted_apply(model, train=True)(variables, x, key)


def test_head_initialised_to_zero_and_pre_logits_is_not(dropout_vit):
    model, variables, _ = dropout_vit
    params = variables["params"]
    assert not np.any(params["head"]["kernel"]) and not np.any(params["head"]["bias"])
    assert np.std(params["pre_logits"]["kernel"]) > 0.01
    assert np.std(params["Transformer"]["posembed_input"]["pos_embedding"]) > 0.01
    np.testing.assert_array_equal(evaluate(model, variables, images()), 0.0)


def test_position_embedding_is_sized_from_the_init_grid_and_checked_at_apply():
    model = tiny_vit(num_layers=1)
    variables = jax.eval_shape(
        lambda x: model.init(jax.random.key(0), x, train=False), images(height=40, width=24)
    )
    pos_embedding = variables["params"]["Transformer"]["posembed_input"]["pos_embedding"]
    assert pos_embedding.shape == (1, 1 + 5 * 3, 32)
    with pytest.raises(flax.errors.ScopeParamShapeError, match=r"pos_embedding.*\(1, 16, 32\)"):
        jax.eval_shape(
            lambda v, x: model.apply(v, x, train=False), variables, images(height=32, width=24)
        )
    with pytest.raises(ValueError, match=r"not divisible by the patch size \(8, 8\)"):
        jax.eval_shape(
            lambda x: model.init(jax.random.key(0), x, train=False), images(height=36, width=24)
        )


def test_attention_is_softmax_of_scaled_dot_products_with_optional_dropout():
    q, k, v = np.random.default_rng(0).standard_normal((3, 2, 5, 3, 4)).astype(np.float32)
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(4)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    expected = np.einsum("bhqk,bkhd->bqhd", weights, v)

    @jax.jit
    def attend(q, k, v):
        dropped = [
            dot_product_attention(
                q, k, v, dropout_rng=jax.random.key(seed), dropout_rate=0.5, deterministic=False
            )
            for seed in (1, 2)
        ]
        return dot_product_attention(q, k, v), dropped

    deterministic, dropped = attend(q, k, v)
    np.testing.assert_allclose(deterministic, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(dropped[0] - expected).max() > 1e-2
    assert np.abs(dropped[0] - dropped[1]).max() > 1e-2


def test_class_token_only_block_gives_the_full_blocks_class_token_and_its_gradient():
    block = EncoderBlock(
        mlp_dim=64,
        num_heads=4,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        gelu_approximate=True,
        layer_norm_epsilon=1e-6,
        dtype=jnp.float32,
    )
    tokens = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9, 32)), jnp.float32)
    variables = block.init(jax.random.key(0), tokens, True)

    def class_token(variables, tokens, class_token_only):
        out = block.apply(variables, tokens, True, class_token_only)
        assert out.shape == ((2, 1, 32) if class_token_only else (2, 9, 32))
        return out[:, 0]

    full, short = (class_token(variables, tokens, flag) for flag in (False, True))
    np.testing.assert_allclose(short, full, rtol=1e-5, atol=1e-6)
    grads = [
        jax.grad(lambda v, t, flag=flag: jnp.sum(jnp.sin(class_token(v, t, flag))), (0, 1))(
            variables, tokens
        )
        for flag in (False, True)
    ]
    for full_grad, short_grad in zip(*(jax.tree.leaves(g) for g in grads), strict=True):
        np.testing.assert_allclose(short_grad, full_grad, rtol=1e-4, atol=1e-6)


def test_dropout_acts_only_in_training(dropout_vit):
    model, _, variables = dropout_vit
    x = images()
    reference = evaluate(model, variables, x)
    np.testing.assert_array_equal(evaluate(model, variables, x), reference)
    first = train_forward(model, variables, x, jax.random.key(1))
    second = train_forward(model, variables, x, jax.random.key(2))
    assert np.abs(first - reference).max() > 1e-3
    assert np.abs(first - second).max() > 1e-3


def test_bfloat16_compute_keeps_float32_params_and_logits_close_to_float32(dropout_vit):
    model32, _, variables = dropout_vit
    model16 = model32.clone(dtype=jnp.bfloat16)
    x = images()
    shapes16 = jax.eval_shape(lambda x: model16.init(jax.random.key(0), x, train=False), x)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(shapes16))
    logits32, logits16 = evaluate(model32, variables, x), evaluate(model16, variables, x)
    assert logits16.dtype == jnp.float32
    difference = np.abs(np.asarray(logits16) - np.asarray(logits32)).max()
    scale = np.abs(np.asarray(logits32)).max()
    assert 0 < difference < 0.03 * scale


def test_remat_keeps_parameter_names_outputs_and_gradients(dropout_vit):
    model, _, variables = dropout_vit
    remat = model.clone(remat=True)
    x = images()
    remat_shapes = jax.eval_shape(lambda x: remat.init(jax.random.key(0), x, train=False), x)
    assert jax.tree.map(np.shape, remat_shapes) == jax.tree.map(np.shape, variables)

    def loss(v, m):
        return jnp.sum(m.apply(v, x, train=True, rngs={"dropout": jax.random.key(3)}) ** 2)

    value, grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(variables, model)
    remat_value, remat_grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(variables, remat)
    np.testing.assert_allclose(remat_value, value, rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), remat_grads, grads
    )


def test_hybrid_forward_jits_and_remat_keeps_names_and_outputs():
    hybrid = models.create_model(
        "R50+ViT-B_16",
        num_classes=3,
        **{**TINY, "num_layers": 1, "patches": (1, 1)},
        resnet={"num_layers": [1, 1], "width_factor": 1},
    )
    x = images(height=32, width=24)
    shapes = jax.eval_shape(lambda x: hybrid.init(jax.random.key(0), x, train=False), x)
    # Stem /4, block2 /2: an 4x3 token grid plus the class token.
    assert shapes["params"]["Transformer"]["posembed_input"]["pos_embedding"].shape == (
        1, 1 + 4 * 3, 32,
    )  # fmt: skip
    remat = hybrid.clone(remat=True)
    remat_shapes = jax.eval_shape(lambda x: remat.init(jax.random.key(0), x, train=False), x)
    assert jax.tree.map(np.shape, remat_shapes) == jax.tree.map(np.shape, shapes)
    variables = perturbed(jax.tree.map(lambda s: np.ones(s.shape, np.float32), shapes), 0.5)
    logits = evaluate(hybrid, variables, x)
    assert logits.shape == (2, 3) and np.all(np.isfinite(logits))
    np.testing.assert_allclose(evaluate(remat, variables, x), logits, rtol=1e-5, atol=1e-6)


HF_BLOCK_NAMES = {
    # Linen submodule -> (transformers>=5.9 in-memory name, legacy name) under the encoder layer.
    "MultiHeadDotProductAttention_0/query": ("attention.q_proj", "attention.attention.query"),
    "MultiHeadDotProductAttention_0/key": ("attention.k_proj", "attention.attention.key"),
    "MultiHeadDotProductAttention_0/value": ("attention.v_proj", "attention.attention.value"),
    "MultiHeadDotProductAttention_0/out": ("attention.o_proj", "attention.output.dense"),
    "LayerNorm_0": ("layernorm_before", "layernorm_before"),
    "LayerNorm_1": ("layernorm_after", "layernorm_after"),
    "MlpBlock_0/Dense_0": ("mlp.fc1", "intermediate.dense"),
    "MlpBlock_0/Dense_1": ("mlp.fc2", "output.dense"),
}


def to_hf_vit_state_dict(params, *, legacy: bool) -> dict[str, np.ndarray]:
    """Our ViT params under HF ViTForImageClassification names, torch layouts."""
    flat = traverse_util.flatten_dict(params, sep="/")
    layer_prefix = "vit.encoder.layer" if legacy else "vit.layers"
    state = {
        "vit.embeddings.cls_token": flat["cls"],
        "vit.embeddings.position_embeddings": flat["Transformer/posembed_input/pos_embedding"],
        "vit.embeddings.patch_embeddings.projection.weight": flat["embedding/kernel"].transpose(
            3, 2, 0, 1
        ),
        "vit.embeddings.patch_embeddings.projection.bias": flat["embedding/bias"],
        "vit.layernorm.weight": flat["Transformer/encoder_norm/scale"],
        "vit.layernorm.bias": flat["Transformer/encoder_norm/bias"],
        "classifier.weight": flat["head/kernel"].T,
        "classifier.bias": flat["head/bias"],
    }
    for key, value in flat.items():
        parts = key.split("/")
        if "encoderblock_" not in key:
            continue
        block = parts[1].removeprefix("encoderblock_")
        module, leaf = "/".join(parts[2:-1]), parts[-1]
        hf_module = HF_BLOCK_NAMES[module][int(legacy)]
        hf_leaf = {"kernel": "weight", "scale": "weight", "bias": "bias"}[leaf]
        if leaf == "kernel":  # (in..., out...) -> torch (out, in)
            fan_in = value.shape[0] * (value.shape[1] if module.endswith("/out") else 1)
            value = value.reshape(fan_in, -1).T
        elif module.startswith("MultiHead"):
            value = value.reshape(-1)
        state[f"{layer_prefix}.{block}.{hf_module}.{hf_leaf}"] = value
    return state


@pytest.mark.parametrize("hf_defaults", [True, False])
def test_matches_huggingface_vit_with_hf_gelu_and_epsilon(hf_defaults):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
        num_labels=5,
    )
    hf_model = transformers.ViTForImageClassification(config).eval()
    legacy = "vit.layers.0.attention.q_proj.weight" not in hf_model.state_dict()
    overrides = {"gelu_approximate": False, "layer_norm_epsilon": 1e-12} if hf_defaults else {}
    model = tiny_vit(**overrides)
    x = images(batch=3)
    variables = perturbed(model.init(jax.random.key(0), x, train=False))
    state = to_hf_vit_state_dict(variables["params"], legacy=legacy)
    hf_model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    with torch.no_grad():
        expected = hf_model(torch.from_numpy(np.array(x).transpose(0, 3, 1, 2))).logits.numpy()
    ours = np.asarray(evaluate(model, variables, x))
    difference = np.abs(ours - expected).max()
    if hf_defaults:
        assert difference < 2e-5
    else:  # original tanh GELU and epsilon 1e-6 are a (slightly) different function
        assert difference > 1e-5


def test_global_average_pooling_has_no_class_token_and_pools_every_token():
    """classifier 'gap' (Appendix D.3): no class token, a position embedding per patch, and the
    head reads the mean over the tokens of the final LayerNorm's output, so permuting the patch
    tokens (with their position embeddings) leaves the logits unchanged."""
    size = dict(hidden_size=16, mlp_dim=32, num_heads=2, num_layers=2, patches=(4, 4))
    model = models.create_model("ViT-Ti_16", num_classes=3, classifier="gap", **size)
    images = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    variables = model.init(jax.random.key(1), images, train=False)
    params = variables["params"]
    assert "cls" not in params
    assert params["Transformer"]["posembed_input"]["pos_embedding"].shape == (1, 4, 16)
    params = jax.tree.map(lambda x: x + 0.1, params)  # a head that is not zero
    logits = model.apply({"params": params}, images, train=False)
    assert logits.shape == (2, 3)
    swapped = jnp.concatenate([images[:, 4:], images[:, :4]], axis=1)  # patch rows swapped
    embedding = params["Transformer"]["posembed_input"]["pos_embedding"]
    moved = jax.tree.map(lambda x: x, params)
    moved["Transformer"]["posembed_input"]["pos_embedding"] = embedding[:, jnp.array([2, 3, 0, 1])]
    np.testing.assert_allclose(
        model.apply({"params": moved}, swapped, train=False), logits, rtol=1e-5, atol=1e-5
    )
    token = models.create_model("ViT-Ti_16", num_classes=3, **size)
    assert "cls" in token.init(jax.random.key(1), images, train=False)["params"]
