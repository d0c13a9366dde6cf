"""Inspecting a ViT checkpoint on image files: the paper's Figure 6 (attention rollout) and the
three panels of Figure 7 (patch-embedding filters, position embedding similarity, mean attention
distance), written as PNGs with a short inspect.md."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vit_jax.analysis import attention_maps, embeddings, figures
from vit_jax.common import files
from vit_jax.inference import image_files
from vit_jax.inference.classifier import Classifier
from vit_jax.models.vit import VisionTransformer


def inspect_checkpoint(
    *,
    checkpoint: Path | str,
    paths: Sequence[Path],
    output: Path,
    batch_size: int = 16,
    rollout_images: int = 8,
    components: int = 28,
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Writes the figures and inspect.md into `output`; returns (paths written, unreadable
    files). Rollout is drawn for the first `rollout_images` images; the attention distance is
    averaged over all of them."""
    predictor = Classifier.load(checkpoint, batch_size=batch_size)
    meta = predictor.metadata
    if not isinstance(predictor.model, VisionTransformer):
        raise ValueError(
            f"{checkpoint} holds a {meta['model']}: the attention and embedding pictures need a "
            "ViT (python -m vit_jax.fewshot evaluates any model's representation)"
        )
    if predictor.model.classifier != "token":
        raise ValueError(
            f"{checkpoint} holds a ViT without a class token (classifier "
            f"{predictor.model.classifier!r}): the rollout of Figure 6 starts from the class token "
            "(python -m vit_jax.fewshot evaluates its representation)"
        )
    shown, maps, names, failed, distance_sum, count = [], [], [], [], 0.0, 0
    grid = None
    for good, pixels, bad in image_files.batches(
        paths, batch_size=batch_size, preprocess=predictor.pixels
    ):
        failed += bad
        if not good:
            continue
        batch = predictor.padded([predictor.normalise(p) for p in pixels])
        weights, grid = predictor.batch_attention(batch)
        weights = [w[: len(good)] for w in weights]
        patch_pixels = (predictor.image_size[0] / grid[0], predictor.image_size[1] / grid[1])
        per_block = [
            attention_maps.mean_attention_distance(w, grid=grid, patch_pixels=patch_pixels)
            for w in weights
        ]
        distance_sum = distance_sum + np.stack(per_block).sum(axis=1)
        count += len(good)
        wanted = max(0, rollout_images - len(shown))
        if wanted:
            maps += list(attention_maps.class_token_maps(weights, grid=grid)[:wanted])
            shown += pixels[:wanted]
            names += [path.name for path in good[:wanted]]
    if not count:
        raise ValueError(f"none of the {len(paths)} image file(s) could be read")
    output.mkdir(parents=True, exist_ok=True)
    distances = distance_sum / count
    written = [
        figures.plot_rollout(
            images=shown, maps=np.stack(maps), names=names, path=output / "figure6_rollout.png"
        ),
        figures.plot_attention_distance(
            distances=distances,
            image_size=predictor.image_size,
            path=output / "figure7_attention_distance.png",
        ),
    ]
    params = predictor.variables["params"]
    similarity = embeddings.position_similarity(
        pos_embedding=np.asarray(params["Transformer"]["posembed_input"]["pos_embedding"]),
        grid=grid,
    )
    written.append(
        figures.plot_position_similarity(
            similarity=similarity, path=output / "figure7_position_similarity.png"
        )
    )
    kernel = np.asarray(params["embedding"]["kernel"])
    filters = None
    if kernel.shape[2] == 3:
        filters = embeddings.filter_components(kernel=kernel, count=components)
        written.append(
            figures.plot_filter_components(
                components=filters[0], variance=filters[1], path=output / "figure7_filters.png"
            )
        )
    text = _markdown(
        checkpoint=checkpoint,
        meta=meta,
        grid=grid,
        count=count,
        distances=distances,
        similarity=similarity,
        filters=filters,
        written=written,
    )
    return [files.write_text(output / "inspect.md", text), *written], failed


def neighbour_similarity(similarity: np.ndarray) -> tuple[float, float]:
    """(mean cosine similarity of horizontally or vertically adjacent positions, mean over
    all other pairs of distinct positions)."""
    rows, columns = similarity.shape[:2]
    flat = similarity.reshape(rows * columns, rows * columns)
    distance = attention_maps.patch_distances(grid=(rows, columns), patch_pixels=(1.0, 1.0))
    adjacent = np.isclose(distance, 1.0)
    others = distance > 1.0
    far = float(flat[others].mean()) if others.any() else float("nan")
    return float(flat[adjacent].mean()), far


def _markdown(*, checkpoint, meta, grid, count, distances, similarity, filters, written) -> str:
    size = meta["image_size"]
    near, far = neighbour_similarity(similarity)
    lines = [
        f"# Inspecting {checkpoint}\n",
        f"{meta['model']} at {size[0]}x{size[1]}: patch tokens on a grid of {grid[0]} rows and "
        f"{grid[1]} columns plus the class token; {count} image(s), {len(distances)} encoder "
        f"blocks of {distances.shape[1]} heads.\n",
        "## Figure 6: attention rollout from the class token\n",
        f"![rollout]({written[0].name})\n",
        "## Figure 7, left: patch-embedding filters\n",
    ]
    if filters is None:
        lines.append(
            "Not drawn: this model's patch embedding reads backbone features, not RGB pixels.\n"
        )
    else:
        lines.append(
            f"The top {len(filters[1])} principal components explain "
            f"{100 * filters[1].sum():.1f}% of the filters' variance.\n\n"
            "![filters](figure7_filters.png)\n"
        )
    lines += [
        "## Figure 7, centre: position embedding similarity\n",
        f"Mean cosine similarity of adjacent positions {near:.3f}, of all other pairs {far:.3f}.\n",
        "![position similarity](figure7_position_similarity.png)\n",
        "## Figure 7, right: mean attention distance\n",
        "| block | least (px) | mean over heads (px) | most (px) |",
        "|---|---|---|---|",
        *(
            f"| {i + 1} | {d.min():.1f} | {d.mean():.1f} | {d.max():.1f} |"
            for i, d in enumerate(distances)
        ),
        "",
        f"![attention distance]({written[1].name})\n",
    ]
    return "\n".join(lines)
