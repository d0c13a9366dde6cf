"""Forward cost from XLA's cost analysis (abstract shapes, nothing executed) vs published counts.

Published multiply-accumulates at 224x224 (1 MAC = 2 FLOPs): ViT-B/16 17.6 G (timm model card),
ResNet-50 4.1 G and ResNet-152 11.5 G (torchvision weights tables, v1.5). XLA does not count
products with the zero padding of convolutions, so CNN counts come out a few percent lower.
Our ViT's last encoder block runs only the class token past the keys and values (models_vit), so
its count is the published one less that block's work for the other 196 tokens.
"""

import jax
import jax.numpy as jnp
import pytest

from vit_jax import models


def forward_gmacs(name: str) -> float:
    """XLA counts a loop body once, so ResNets are counted unrolled (no scan over units)."""
    unroll = {"unroll": True} if "unroll" in models.get_config(name) else {}
    model = models.create_model(name, num_classes=1000, **unroll)
    images = jax.ShapeDtypeStruct((1, 224, 224, 3), jnp.float32)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), images)
    lowered = jax.jit(lambda v, x: model.apply(v, x, train=False)).lower(variables, images)
    analysis = lowered.cost_analysis()
    if isinstance(analysis, list):
        analysis = analysis[0]
    return analysis["flops"] / 2e9


def vit_b16_last_block_skipped_gmacs() -> float:
    """The last block's query and output projections, MLP and attention for 196 patch tokens."""
    tokens, width, mlp, heads, head_dim = 197, 768, 3072, 12, 64
    per_token = 2 * width * width + 2 * width * mlp + 2 * tokens * heads * head_dim
    return (tokens - 1) * per_token / 1e9


@pytest.mark.parametrize(
    ("name", "published_gmacs"),
    [
        ("ViT-B_16", 17.6 - vit_b16_last_block_skipped_gmacs()),
        ("ResNet-50", 4.1),
        ("ResNet-152", 11.5),
    ],
)
def test_forward_macs_within_5_percent_of_published(name, published_gmacs):
    assert forward_gmacs(name) == pytest.approx(published_gmacs, rel=0.05)


def test_vit_b16_skips_the_last_blocks_patch_tokens():
    skipped = vit_b16_last_block_skipped_gmacs()
    assert 17.6 - forward_gmacs("ViT-B_16") == pytest.approx(skipped, rel=0.05)
