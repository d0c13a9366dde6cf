"""Deterministic, leak-free train / validation / test assignment from image content.

An image's split is a function of the SHA-256 digest of its bytes alone: the first 8 bytes of
the digest, read as an unsigned integer v, give the percentile p = floor(100 * v / 2**64), and
p < 70 -> train, p < 85 -> validation, otherwise test. Consequences:
  * adding or removing files never moves any other image to another split;
  * byte-identical duplicates always land in the same split (no train/test leak);
  * the split is stratified by class in expectation: every class is cut at the same 70/15/15
    thresholds independently of the others (exact per-class quotas would need a ranking of
    all files, which would move images whenever a file is added or removed).
"""

import hashlib
from collections import defaultdict
from collections.abc import Iterable

SPLITS = ("train", "validation", "test")
SPLIT_PERCENT = {"train": 70, "validation": 15, "test": 15}


def content_digest(*, data: bytes) -> str:
    """Hex SHA-256 of the raw bytes: the identity of an image for splitting."""
    return hashlib.sha256(data).hexdigest()


def split_of(*, digest: str) -> str:
    """The split of an image whose content has the hex SHA-256 `digest`."""
    percentile = int(digest[:16], 16) * 100 // 2**64
    if percentile < SPLIT_PERCENT["train"]:
        return "train"
    if percentile < SPLIT_PERCENT["train"] + SPLIT_PERCENT["validation"]:
        return "validation"
    return "test"


def duplicate_groups(*, named_digests: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Groups of names whose digests are identical (groups of 2+ only), sorted."""
    by_digest = defaultdict(list)
    for name, digest in named_digests:
        by_digest[digest].append(name)
    return sorted(sorted(names) for names in by_digest.values() if len(names) > 1)
