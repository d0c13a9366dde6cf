"""Zero-shot label mapping: ImageNet-1k classifier logits -> the study's boot/sandal/shoe classes.

ImageNet-1k (ILSVRC-2012) has no generic 'boot', 'shoe' or 'sneaker' class, only specific footwear,
so each study class is a group of ImageNet classes. Indices follow the standard order (sorted
WordNet IDs). The indices, WordNet IDs and names agree with timm's imagenet_synsets.txt and
torchvision's _IMAGENET_CATEGORIES; tests/data/imagenet1k_footwear.json is the tests' copy of
those facts.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from vit_jax.data.shoe_sandal_boot import CLASS_NAMES

NUM_IMAGENET1K_CLASSES = 1000


class ImageNetClass(NamedTuple):
    index: int
    wnid: str
    name: str


IMAGENET1K_FOOTWEAR: dict[str, tuple[ImageNetClass, ...]] = {
    "boot": (ImageNetClass(514, "n03124043", "cowboy boot"),),
    "sandal": (ImageNetClass(774, "n04133789", "sandal"),),
    "shoe": (
        ImageNetClass(630, "n03680355", "Loafer"),
        ImageNetClass(770, "n04120489", "running shoe"),
        ImageNetClass(502, "n03047690", "clog"),
    ),
}


def imagenet1k_footwear_logits(
    *, logits_1000: jnp.ndarray, class_names: tuple[str, ...] = CLASS_NAMES
) -> jnp.ndarray:
    """Pools 1000 ImageNet-1k logits onto one logit per footwear class, in `class_names` order.

    Each class's logit is the log-sum-exp of its group's ImageNet logits z_i:

        pooled_G = log sum_{i in G} exp(z_i) = log sum_{i in G} softmax(z)_i + logsumexp(z),

    i.e. the log of the group's summed ImageNet probability plus a constant shared by all groups
    (logsumexp over all 1000 logits). The shared constant changes neither the argmax nor the
    softmax over the pooled logits, so softmax(pooled)_G = p(G) / sum_G' p(G'): the ImageNet
    probability mass of each group, renormalised over the footwear groups. A group of one class
    keeps that class's logit.

    Args:
      logits_1000: ImageNet-1k classifier logits, shape (..., 1000).
      class_names: study class names; each must be a key of IMAGENET1K_FOOTWEAR (matched
        ignoring case, since the dataset folders are named Boot/Sandal/Shoe).

    Returns:
      Pooled logits, shape (..., len(class_names)).
    """
    if logits_1000.shape[-1] != NUM_IMAGENET1K_CLASSES:
        raise ValueError(
            f"logits_1000 must have {NUM_IMAGENET1K_CLASSES} ImageNet-1k logits in its last axis, "
            f"got shape {logits_1000.shape}"
        )
    pooled = []
    for name in class_names:
        group = IMAGENET1K_FOOTWEAR.get(name.lower())
        if group is None:
            raise ValueError(
                f"class name {name!r} has no ImageNet-1k footwear group; "
                f"valid names: {sorted(IMAGENET1K_FOOTWEAR)}"
            )
        indices = jnp.array([c.index for c in group])
        pooled.append(logsumexp(jnp.take(logits_1000, indices, axis=-1), axis=-1))
    return jnp.stack(pooled, axis=-1)
