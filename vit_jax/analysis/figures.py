"""The inspection figures (paper Figures 6 and 7) drawn on matplotlib Figure objects (Agg, no
display) and written atomically as PNGs."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from vit_jax.common import files


def upsample(values: np.ndarray, *, size: tuple[int, int]) -> np.ndarray:
    """A (rows, columns) map in [0, 1] resized bilinearly to size = (height, width)."""
    image = Image.fromarray(np.asarray(values, np.float32), mode="F")
    return np.asarray(image.resize((size[1], size[0]), Image.Resampling.BILINEAR))


def plot_rollout(
    *, images: list[np.ndarray], maps: np.ndarray, names: list[str], path: Path
) -> Path:
    """Figure 6: per image, the input next to the input weighted by its attention rollout."""
    figure = Figure(figsize=(5.0, 2.5 * len(images)), layout="constrained")
    axes = np.asarray(figure.subplots(len(images), 2, squeeze=False))
    for row, image, values, name in zip(axes, images, maps, names, strict=True):
        mask = upsample(values, size=image.shape[:2])[..., None]
        row[0].imshow(image)
        row[0].set_title(name, fontsize=8)
        row[1].imshow((image * mask).astype(np.uint8))
        row[1].set_title("attention rollout", fontsize=8)
        for axis in row:
            axis.set_axis_off()
    return files.save_png(figure, path)


def plot_filter_components(*, components: np.ndarray, variance: np.ndarray, path: Path) -> Path:
    """Figure 7 left: principal components of the patch-embedding filters as RGB patches, each
    scaled to [0, 1] on its own."""
    columns = 7
    rows = -(-len(components) // columns)
    figure = Figure(figsize=(1.2 * columns, 1.3 * rows + 0.6), layout="constrained")
    axes = np.asarray(figure.subplots(rows, columns, squeeze=False)).ravel()
    for i, axis in enumerate(axes):
        axis.set_axis_off()
        if i < len(components):
            component = components[i]
            low, high = component.min(), component.max()
            axis.imshow((component - low) / max(high - low, 1e-12), interpolation="nearest")
            axis.set_title(f"{i + 1}: {100 * variance[i]:.1f}%", fontsize=7)
    figure.suptitle("Patch-embedding filters: principal components (variance explained)")
    return files.save_png(figure, path)


def plot_position_similarity(*, similarity: np.ndarray, path: Path) -> Path:
    """Figure 7 centre: for each patch position (a tile at its row and column), the cosine
    similarity of its position embedding with every position's."""
    rows, columns = similarity.shape[:2]
    mosaic = np.full((rows * (rows + 1), columns * (columns + 1)), np.nan)
    for r in range(rows):
        for c in range(columns):
            top, left = r * (rows + 1), c * (columns + 1)
            mosaic[top : top + rows, left : left + columns] = similarity[r, c]
    figure = Figure(figsize=(7.0, 7.0 * rows / columns + 0.4), layout="constrained")
    axis = figure.subplots()
    shown = axis.imshow(mosaic, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
    axis.set_xticks(
        [c * (columns + 1) + columns / 2 - 0.5 for c in range(columns)], range(1, columns + 1)
    )
    axis.set_yticks([r * (rows + 1) + rows / 2 - 0.5 for r in range(rows)], range(1, rows + 1))
    axis.set_xlabel("input patch column")
    axis.set_ylabel("input patch row")
    axis.tick_params(length=0, labelsize=7)
    figure.colorbar(shown, ax=axis, shrink=0.8, label="cosine similarity")
    axis.set_title("Position embedding similarity")
    return files.save_png(figure, path)


def plot_attention_distance(
    *, distances: np.ndarray, image_size: tuple[int, int], path: Path
) -> Path:
    """Figure 7 right: mean attention distance (pixels) of every head (dots) per block."""
    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    axis = figure.subplots()
    layers, heads = distances.shape
    for head in range(heads):
        axis.scatter(np.arange(1, layers + 1), distances[:, head], s=14, label=f"head {head + 1}")
    axis.set_xlabel("network depth (layer)")
    axis.set_ylabel("mean attention distance (pixels)")
    axis.set_ylim(0, max(float(np.hypot(*image_size)) / 2, 1.1 * float(distances.max())))
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.grid(alpha=0.3)
    if heads <= 16:
        axis.legend(fontsize=6, ncol=2, loc="lower right")
    axis.set_title(f"Mean attention distance, {image_size[0]}x{image_size[1]} inputs")
    return files.save_png(figure, path)
