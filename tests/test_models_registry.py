"""Registry of vit_jax.models: names, errors, parameter counts and output shapes.

Parameter counts are the published ones (vit_jax models_test.py MODEL_SIZES, torchvision). Shapes
use jax.eval_shape (abstract evaluation), so no full-size parameters are materialised.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vit_jax import models

CONTRACT_NAMES = (
    "ViT-Ti_16", "ViT-S_16", "ViT-S_32", "ViT-B_16", "ViT-B_32", "ViT-L_16", "ViT-L_32",
    "ViT-H_14", "R50+ViT-B_16", "ResNet-50", "ResNet-101", "ResNet-152", "BiT-R50x1",
    "BiT-R101x1", "BiT-R152x1",
)  # fmt: skip
# Patch size of each ViT (stride of the token grid); None for the CNN classifiers.
GRID_STRIDE = {
    "ViT-Ti_16": 16, "ViT-S_16": 16, "ViT-S_32": 32, "ViT-B_16": 16, "ViT-B_32": 32,
    "ViT-L_16": 16, "ViT-L_32": 32, "ViT-H_14": 14, "R50+ViT-B_16": 16,
}  # fmt: skip


@functools.cache
def abstract_init(name: str, height: int, width: int, num_classes: int = 1000, **overrides):
    """(logits, variables) as ShapeDtypeStructs for a batch of 2 images."""
    model = models.create_model(name, num_classes=num_classes, **overrides)
    images = jax.ShapeDtypeStruct((2, height, width, 3), jnp.float32)
    return jax.eval_shape(
        lambda x: model.init_with_output(jax.random.key(0), x, train=False), images
    )


def count(tree) -> int:
    return int(sum(np.prod(leaf.shape) for leaf in jax.tree.leaves(tree)))


def test_model_names_are_the_contract_names():
    assert models.MODEL_NAMES == CONTRACT_NAMES


def test_unknown_name_raises_value_error_listing_valid_names():
    with pytest.raises(ValueError, match=r"'ViT-X_16'.*ViT-B_16.*BiT-R152x1"):
        models.create_model("ViT-X_16", num_classes=10)
    with pytest.raises(ValueError, match=r"'ResNet-18'"):
        models.get_config("ResNet-18")


def test_unknown_override_raises_value_error_naming_field_and_valid_fields():
    with pytest.raises(ValueError, match=r"hidden_dim.*valid fields:.*hidden_size"):
        models.create_model("ViT-B_16", num_classes=10, hidden_dim=12)
    with pytest.raises(ValueError, match=r"width_factor.*num_layers"):
        models.create_model("ResNet-50", num_classes=10, width_factor=2)


def test_unsupported_dtype_raises_value_error():
    with pytest.raises(ValueError, match="float16"):
        models.create_model("ViT-Ti_16", num_classes=10, dtype="float16")


def test_get_config_is_a_copy_with_table_1_fields():
    config = models.get_config("ViT-L_16")
    assert (config.hidden_size, config.mlp_dim, config.num_heads, config.num_layers) == (
        1024, 4096, 16, 24,
    )  # fmt: skip
    config.hidden_size = 8
    assert models.get_config("ViT-L_16").hidden_size == 1024
    assert models.create_model("ViT-L_16", num_classes=3).hidden_size == 1024


def test_overrides_reach_the_module():
    model = models.create_model(
        "ViT-B_16", num_classes=7, representation_size=768, dtype="bfloat16", remat=True
    )
    assert (model.num_classes, model.representation_size, model.remat) == (7, 768, True)
    assert model.dtype == jnp.bfloat16


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ViT-Ti_16", 5_717_416),
        ("ViT-S_16", 22_050_664),
        ("ViT-B_16", 86_567_656),
        ("ViT-L_16", 304_326_632),
        ("R50+ViT-B_16", 98_659_112),
        ("ResNet-50", 25_557_032),
        ("ResNet-152", 60_192_808),
    ],
)
def test_parameter_count_with_1000_class_head(name, expected):
    _, variables = abstract_init(name, 224, 224)
    assert count(variables["params"]) == expected


def test_parameter_count_vit_b16_imagenet21k_head_with_pre_logits():
    _, variables = abstract_init("ViT-B_16", 224, 224, 21843, representation_size=768)
    assert count(variables["params"]) == 103_186_515


@pytest.mark.parametrize("name", CONTRACT_NAMES)
@pytest.mark.parametrize("size_in_patches", [(14, 14), (8, 6)])
def test_output_shape_and_position_embedding_grid(name, size_in_patches):
    stride = GRID_STRIDE.get(name, 16)
    height, width = size_in_patches[0] * stride, size_in_patches[1] * stride
    logits, variables = abstract_init(name, height, width)
    assert logits.shape == (2, 1000)
    assert logits.dtype == jnp.float32
    params = variables["params"]
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    if name in GRID_STRIDE:
        pos_embedding = params["Transformer"]["posembed_input"]["pos_embedding"]
        hidden = models.get_config(name).hidden_size
        assert pos_embedding.shape == (1, 1 + size_in_patches[0] * size_in_patches[1], hidden)
    else:
        assert ("batch_stats" in variables) == name.startswith("ResNet")
