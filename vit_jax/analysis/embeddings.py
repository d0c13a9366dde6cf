"""The learned embeddings of a ViT, as the paper's Figure 7 (left, centre) shows them: the principal
components of the patch-embedding filters E and the cosine similarity between position embeddings.
"""

import numpy as np
from sklearn.decomposition import PCA


def filter_components(*, kernel: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The top `count` principal components of the D filters of a (rows, columns, 3, D) patch
    embedding kernel, as (count, rows, columns, 3) arrays, and their explained variance ratios."""
    rows, columns, channels, width = kernel.shape
    filters = np.asarray(kernel, np.float64).reshape(rows * columns * channels, width).T
    pca = PCA(n_components=min(count, *filters.shape)).fit(filters)
    return pca.components_.reshape(-1, rows, columns, channels), pca.explained_variance_ratio_


def position_similarity(*, pos_embedding: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """(rows, columns, rows, columns): cosine similarity of each patch's position embedding with
    every other's; `pos_embedding` is (1, 1 + rows * columns, D), class token first."""
    patches = np.asarray(pos_embedding, np.float64)[0, 1:]
    if len(patches) != grid[0] * grid[1]:
        raise ValueError(
            f"the position embedding has {len(patches)} patch positions, not the "
            f"{grid[0]}x{grid[1]} grid of the model's image size"
        )
    unit = patches / np.linalg.norm(patches, axis=-1, keepdims=True)
    return (unit @ unit.T).reshape(*grid, *grid)
