import numpy as np
import pytest
from checkpoint_writers import imagenet1k_footwear

from vit_jax.data.shoe_sandal_boot import CLASS_NAMES
from vit_jax.training.footwear import IMAGENET1K_FOOTWEAR, imagenet1k_footwear_logits


def test_footwear_groups_match_the_reference_table():
    reference = {}
    for row in imagenet1k_footwear():
        if row["group"] in ("Boot", "Sandal", "Shoe"):
            entry = (row["index"], row["wnid"], row["torchvision_name"])
            reference.setdefault(row["group"].lower(), set()).add(entry)
    ours = {name: {tuple(c) for c in group} for name, group in IMAGENET1K_FOOTWEAR.items()}
    assert ours == reference


def test_every_study_class_has_a_footwear_group():
    assert sorted(IMAGENET1K_FOOTWEAR) == sorted(CLASS_NAMES)


def _numpy_group_probabilities(logits: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=-1, keepdims=True)
    return np.stack([probabilities[:, group].sum(axis=-1) for group in groups], axis=-1)


def test_pooling_equals_log_of_summed_probabilities_up_to_a_shared_constant():
    logits = np.random.default_rng(0).normal(scale=3.0, size=(5, 1000))
    logits[:, 770] += 8.0  # make the footwear probabilities non-negligible
    groups = [[514], [774], [630, 770, 502]]
    group_probabilities = _numpy_group_probabilities(logits, groups)
    maximum = logits.max(axis=-1, keepdims=True)
    log_partition = maximum[:, 0] + np.log(np.exp(logits - maximum).sum(axis=-1))

    pooled = np.asarray(
        imagenet1k_footwear_logits(
            logits_1000=logits.astype(np.float32), class_names=("boot", "sandal", "shoe")
        )
    )

    assert pooled.shape == (5, 3)
    np.testing.assert_allclose(
        pooled - log_partition[:, None], np.log(group_probabilities), rtol=1e-5, atol=1e-4
    )
    renormalised = np.exp(pooled - pooled.max(axis=-1, keepdims=True))
    renormalised /= renormalised.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(
        renormalised, group_probabilities / group_probabilities.sum(-1, keepdims=True), atol=1e-5
    )


def test_class_order_follows_class_names_and_single_class_groups_keep_their_logit():
    logits = np.random.default_rng(1).normal(size=(2, 1000)).astype(np.float32)
    pooled = np.asarray(
        imagenet1k_footwear_logits(logits_1000=logits, class_names=("Sandal", "boot"))
    )
    np.testing.assert_allclose(pooled, logits[:, [774, 514]], rtol=1e-6)


def test_a_running_shoe_image_is_predicted_shoe():
    logits = np.zeros((1, 1000), np.float32)
    logits[0, 770] = 5.0
    pooled = imagenet1k_footwear_logits(logits_1000=logits)
    assert CLASS_NAMES[int(np.argmax(pooled, axis=-1)[0])] == "shoe"


def test_bad_input_is_named_in_the_error():
    with pytest.raises(ValueError, match="1000"):
        imagenet1k_footwear_logits(logits_1000=np.zeros((2, 21843), np.float32))
    with pytest.raises(ValueError, match="'slipper'"):
        imagenet1k_footwear_logits(logits_1000=np.zeros((2, 1000)), class_names=("slipper",))
