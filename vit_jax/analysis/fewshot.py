"""Few-shot linear evaluation (Dosovitskiy et al., section 4.1): the frozen representation of k
training images per class is mapped onto {-1, 1}^K targets by regularised least squares, solved
in closed form, and the map's accuracy is measured on the test split.

The representation is the input of the classification head: the pre-logits of a ViT that has
them, else its final class token LN(z_L^0) (eq. 4); the pooled features of a ResNet or BiT. As
big_vision's few-shot evaluator does (facts, not code): features are standardised with the mean
and standard deviation of the k-shot training set, a constant feature of 100 carries the bias
almost unregularised, and the L2 strength is a fixed 2^10 rather than tuned per task; shots
1, 5, 10, 25; the k images of each class are drawn anew for every seed. Written by hand: no
library solves this small ridge system with these conventions.
"""

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from vit_jax import checkpoints
from vit_jax.analysis import DEFAULT_L2, DEFAULT_SHOTS
from vit_jax.common.cache import cache_dir
from vit_jax.data import input_pipeline
from vit_jax.inference.classifier import Classifier

BIAS_FEATURE = 100.0


def ridge_fit(*, x: np.ndarray, y: np.ndarray, num_classes: int, l2: float) -> dict:
    """The linear map of standardised features (plus the bias feature) onto 2 * onehot(y) - 1
    minimising ||X W - Y||^2 + l2 ||W||^2, through the smaller of the two normal systems."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-5
    features = _design(x, mean=mean, std=std)
    targets = 2.0 * np.eye(num_classes)[y] - 1.0
    points, dim = features.shape
    if points >= dim:
        weights = np.linalg.solve(features.T @ features + l2 * np.eye(dim), features.T @ targets)
    else:
        weights = features.T @ np.linalg.solve(features @ features.T + l2 * np.eye(points), targets)
    return {"weights": weights, "mean": mean, "std": std}


def _design(x: np.ndarray, *, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    standardised = (x - mean) / std
    return np.concatenate([standardised, np.full((len(x), 1), BIAS_FEATURE)], axis=1)


def ridge_accuracy(*, fit: dict, x: np.ndarray, y: np.ndarray) -> float:
    scores = _design(x, mean=fit["mean"], std=fit["std"]) @ fit["weights"]
    return float(np.mean(scores.argmax(axis=1) == y))


def fewshot_accuracies(
    *,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    shots: tuple[int, ...] = DEFAULT_SHOTS,
    seeds: int = 5,
    l2: float = DEFAULT_L2,
) -> dict[int, list[float]]:
    """Test accuracy per seed for every k in `shots` that every class has k training images for."""
    (x_train, y_train), (x_test, y_test) = train, test
    x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
    smallest = min(int(np.sum(y_train == c)) for c in range(num_classes))
    results = {}
    for k in shots:
        if k > smallest:
            continue
        accuracies = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            chosen = np.concatenate(
                [rng.permutation(np.flatnonzero(y_train == c))[:k] for c in range(num_classes)]
            )
            fit = ridge_fit(x=x_train[chosen], y=y_train[chosen], num_classes=num_classes, l2=l2)
            accuracies.append(ridge_accuracy(fit=fit, x=x_test, y=y_test))
        results[k] = accuracies
    return results


def extract(
    *,
    checkpoint: Path,
    dataset: str,
    data_dir: str | None,
    splits: tuple[str, ...],
    batch_size: int,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(features, labels) of each split, computed once per checkpoint, dataset content and split
    and then read from the cache ($VIT_JAX_CACHE, default ~/.cache/vit_jax, under fewshot/); the
    checkpoint is loaded only when a split is not cached."""
    fingerprint = input_pipeline.fingerprint(dataset=dataset, data_dir=data_dir)
    cache = cache_dir("fewshot")
    keys = {s: _cache_key(checkpoint=checkpoint, data=[dataset, fingerprint, s]) for s in splits}
    paths = {split: cache / f"{key}.npz" for split, key in keys.items()}
    results, classifier = {}, None
    for split, path in paths.items():
        if (cached := _read_cached(path)) is not None:
            results[split] = cached
            continue
        classifier = classifier or Classifier(checkpoint=checkpoint, batch_size=batch_size)
        results[split] = _features(
            classifier=classifier, dataset=dataset, data_dir=data_dir, split=split
        )
        temporary = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(temporary, features=results[split][0], labels=results[split][1])
        os.replace(temporary, path)
    return results


def _features(
    *, classifier: Classifier, dataset: str, data_dir: str | None, split: str
) -> tuple[np.ndarray, np.ndarray]:
    loader = input_pipeline.create_loader(
        dataset=dataset,
        data_dir=data_dir,
        split=split,
        batch_size=classifier.batch_size,
        image_size=classifier.image_size,
        preprocessing=classifier.metadata["preprocessing"],
        train=False,
        seed=0,
    )
    features, labels = [], []
    for batch in loader:
        real = batch["mask"] > 0
        features.append(np.asarray(classifier.batch_features(batch["image"]))[real])
        labels.append(batch["label"][real])
    return np.concatenate(features), np.concatenate(labels)


def _read_cached(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached (features, labels), or None when there are none or the file cannot be read
    (truncated, damaged): a cache that cannot be read is a cache miss, recomputed."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            features, labels = stored["features"], stored["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if features.ndim != 2 or labels.shape != (len(features),):
        return None
    return features, labels


def _cache_key(*, checkpoint: Path, data: list) -> str:
    """Names the checkpoint by its metadata and its files' sizes and times, plus `data`."""
    sha = hashlib.sha256((Path(checkpoint) / checkpoints.METADATA_FILE).read_bytes())
    for path in sorted((Path(checkpoint) / checkpoints.VARIABLES_DIR).rglob("*")):
        info = path.stat()
        sha.update(f"{path.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    sha.update(json.dumps(data).encode())
    return sha.hexdigest()[:32]


def summarise(*, results: dict[int, list[float]], shots: tuple[int, ...]) -> list[dict]:
    """Per k in `shots`: {"shots", "accuracies" (per seed), "mean", "std"}; mean and std are None
    where a class has fewer than k training images."""
    entries = []
    for k in shots:
        values = np.asarray(results.get(k, []), np.float64)
        entries.append(
            {
                "shots": k,
                "accuracies": values.tolist(),
                "mean": float(values.mean()) if len(values) else None,
                "std": float(values.std()) if len(values) else None,
            }
        )
    return entries
