"""The embedded default dataset 'digits': scikit-learn's 1,797 8x8 handwritten digits, 10 classes.

Pixels 0..16 are scaled to 0..255 and repeated over three channels (uint8 (8, 8, 3)). The set
is fixed, so its splits are exact per-class quotas (stratified 70/15/15, rounded) rather than
the hash thresholds of the prepared datasets: within each class the images are ordered by the
SHA-256 of their pixel bytes and cut at 70% and 85%, which is deterministic and leak-free.
"""

import functools

import numpy as np
from sklearn.datasets import load_digits

from vit_jax.data.splits import SPLIT_PERCENT, SPLITS, content_digest

CLASS_NAMES = tuple(str(digit) for digit in range(10))


@functools.cache
def _splits() -> dict[str, tuple[dict, ...]]:
    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    records = {split: [] for split in SPLITS}
    for label in range(len(CLASS_NAMES)):
        members = sorted(
            np.flatnonzero(digits.target == label),
            key=lambda i: content_digest(data=pixels[i].tobytes()),
        )
        train_end = round(len(members) * SPLIT_PERCENT["train"] / 100)
        validation_end = train_end + round(len(members) * SPLIT_PERCENT["validation"] / 100)
        cuts = {
            "train": members[:train_end],
            "validation": members[train_end:validation_end],
            "test": members[validation_end:],
        }
        for split, indices in cuts.items():
            records[split] += [
                {"image": np.repeat(pixels[i][..., None], 3, axis=-1), "label": label}
                for i in indices
            ]
    return {split: tuple(split_records) for split, split_records in records.items()}


def digits_split(*, split: str) -> tuple[dict, ...]:
    """Records {"image": uint8 (8, 8, 3), "label": int} of one split, class by class."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; valid: {SPLITS}.")
    return _splits()[split]
