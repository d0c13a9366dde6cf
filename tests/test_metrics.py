import numpy as np
import pytest

from vit_jax.reporting.metrics import classification_metrics

CLASS_NAMES = ["boot", "sandal", "shoe"]


def test_metrics_match_hand_computed_example():
    # true:      0 0 1 1 2 2
    # predicted: 0 1 1 1 2 0
    # boot:   tp 1, fp 1, fn 1 -> P 1/2, R 1/2, F1 1/2
    # sandal: tp 2, fp 1, fn 0 -> P 2/3, R 1,   F1 4/5
    # shoe:   tp 1, fp 0, fn 1 -> P 1,   R 1/2, F1 2/3
    metrics = classification_metrics(
        labels=np.array([0, 0, 1, 1, 2, 2]),
        predictions=np.array([0, 1, 1, 1, 2, 0]),
        class_names=CLASS_NAMES,
    )
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["f1_macro"] == pytest.approx((1 / 2 + 4 / 5 + 2 / 3) / 3)
    expected = {
        "boot": (1 / 2, 1 / 2, 1 / 2, 2),
        "sandal": (2 / 3, 1.0, 4 / 5, 2),
        "shoe": (1.0, 1 / 2, 2 / 3, 2),
    }
    for name, (precision, recall, f1, support) in expected.items():
        scores = metrics["per_class"][name]
        assert scores["precision"] == pytest.approx(precision)
        assert scores["recall"] == pytest.approx(recall)
        assert scores["f1"] == pytest.approx(f1)
        assert scores["support"] == support
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_absent_class_keeps_its_row_and_scores_zero():
    # boot: P 1, R 1/2, F1 2/3; sandal: P 1/2, R 1, F1 2/3; shoe never occurs: all 0.
    metrics = classification_metrics(
        labels=np.array([0, 0, 1]), predictions=np.array([0, 1, 1]), class_names=CLASS_NAMES
    )
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert metrics["per_class"]["shoe"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert metrics["accuracy"] == pytest.approx(2 / 3)


def test_metrics_are_plain_python_types():
    metrics = classification_metrics(
        labels=np.array([0, 1, 2], dtype=np.int32),
        predictions=np.array([0, 1, 2], dtype=np.int64),
        class_names=CLASS_NAMES,
    )
    assert type(metrics["accuracy"]) is float and metrics["accuracy"] == 1.0
    assert type(metrics["per_class"]["boot"]["support"]) is int
    assert all(type(v) is int for row in metrics["confusion_matrix"] for v in row)


@pytest.mark.parametrize(
    ("labels", "predictions", "message"),
    [
        ([0, 3], [0, 1], "labels holds 3"),
        ([0, 1], [0, -1], "predictions holds -1"),
        ([0, 1, 2], [0, 1], "shape"),
        ([0.0, 1.0], [0, 1], "integer"),
        ([], [], "empty"),
    ],
)
def test_bad_input_is_named_in_the_error(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        classification_metrics(
            labels=np.array(labels, dtype=float if message == "integer" else int),
            predictions=np.array(predictions, dtype=int),
            class_names=CLASS_NAMES,
        )
