"""What a ViT attends to, as the paper reads it: attention rollout from the class token to the
patches (Figure 6; Appendix D.8 after Abnar and Zuidema, 2020) and the mean attention distance of
every head against depth (Figure 7, right).

The weights come from the model itself (vit_jax.models.attention_weights_fn, or a
Classifier's `attention`): every encoder block's softmax(q k^T) as (batch, heads, tokens,
tokens), token 0 the class token. Both measures are a few lines of numpy, written by hand: no
library computes them for Flax.
"""

import numpy as np


def rollout(attentions: list[np.ndarray]) -> np.ndarray:
    """Attention rollout (batch, tokens, tokens): per block the weights averaged over heads, the
    identity added for the residual connection and rows re-normalised, multiplied from the first
    block to the last (row t: how much each input token reaches token t at the output)."""
    joint = None
    for weights in attentions:
        mixing = weights.mean(axis=1) + np.eye(weights.shape[-1])
        mixing /= mixing.sum(axis=-1, keepdims=True)
        joint = mixing if joint is None else mixing @ joint
    return joint


def class_token_maps(attentions: list[np.ndarray], *, grid: tuple[int, int]) -> np.ndarray:
    """(batch, rows, columns): the rollout from the class token to each patch, scaled to max 1."""
    maps = rollout(attentions)[:, 0, 1:].reshape(-1, *grid)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def patch_distances(*, grid: tuple[int, int], patch_pixels: tuple[float, float]) -> np.ndarray:
    """(patches, patches) distances in pixels between patch centres, row-major patch order."""
    rows, columns = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    centres = np.stack([rows.ravel() * patch_pixels[0], columns.ravel() * patch_pixels[1]], 1)
    return np.linalg.norm(centres[:, None] - centres[None], axis=-1)


def mean_attention_distance(
    weights: np.ndarray, *, grid: tuple[int, int], patch_pixels: tuple[float, float]
) -> np.ndarray:
    """(batch, heads) mean attention distance in pixels: for every patch query, the distance to
    each patch key weighted by the attention between them (re-normalised over the patch keys,
    the class token left out), averaged over the queries."""
    patches = weights[:, :, 1:, 1:]
    patches = patches / patches.sum(axis=-1, keepdims=True)
    distances = patch_distances(grid=grid, patch_pixels=patch_pixels)
    return (patches * distances).sum(axis=-1).mean(axis=-1)
