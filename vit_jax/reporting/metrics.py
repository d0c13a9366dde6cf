"""Classification metrics of the study: accuracy, macro F1, per-class scores, confusion matrix.

All numbers come from scikit-learn. Every class in `class_names` counts (``labels=range(n)``), also
when it is absent from a split, so confusion matrices always have the same shape and macro F1
averages over all classes; a class with no true and no predicted examples scores 0
(``zero_division=0``).
"""

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def _class_indices(*, values: np.ndarray, name: str, num_classes: int) -> np.ndarray:
    """Returns `values` as a 1-D integer array of class indices in [0, num_classes)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    bad = array[(array < 0) | (array >= num_classes)]
    if bad.size:
        raise ValueError(
            f"{name} holds {bad[0]}, outside the {num_classes} classes [0, {num_classes - 1}]"
        )
    return array


def classification_metrics(
    *, labels: np.ndarray, predictions: np.ndarray, class_names: list[str]
) -> dict:
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
      labels: true class indices, shape (N,), only real (unpadded) examples.
      predictions: predicted class indices (argmax of the logits), shape (N,).
      class_names: name of each class index, in index order.

    Returns:
      {"accuracy": fraction, "f1_macro": fraction, "per_class": {name: {"precision", "recall", "f1",
      "support"}}, "confusion_matrix": rows = true class, columns = predicted class}.
    """
    num_classes = len(class_names)
    if num_classes == 0:
        raise ValueError("class_names is empty")
    if len(set(class_names)) != num_classes:
        raise ValueError(f"class_names has duplicates: {list(class_names)}")
    labels = _class_indices(values=labels, name="labels", num_classes=num_classes)
    predictions = _class_indices(values=predictions, name="predictions", num_classes=num_classes)
    if labels.shape != predictions.shape:
        raise ValueError(
            f"labels has shape {labels.shape} but predictions has shape {predictions.shape}"
        )
    if labels.size == 0:
        raise ValueError("labels and predictions are empty: no examples to score")
    class_ids = list(range(num_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=class_ids, average=None, zero_division=0
    )
    f1_macro = f1_score(labels, predictions, labels=class_ids, average="macro", zero_division=0)
    matrix = confusion_matrix(labels, predictions, labels=class_ids)
    return {
        "accuracy": float(accuracy_score(labels, predictions)),
        "f1_macro": float(f1_macro),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.astype(int).tolist(),
    }
