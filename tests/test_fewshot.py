"""Few-shot linear evaluation: the closed-form map equals a direct solve of the regularised
least-squares problem, separable features score near 100% and random ones near chance, the head's
input is the representation, and the command prints its table from cached features."""

import jax
import numpy as np
import pytest
from checkpoint_writers import SMALL_VIT, random_checkpoint

from vit_jax import checkpoints, fewshot, models
from vit_jax.analysis import fewshot as analysis
from vit_jax.analysis.fewshot import BIAS_FEATURE


@pytest.mark.parametrize("points, dim", [(40, 8), (6, 30)])  # both normal systems
def test_the_closed_form_map_equals_a_direct_regularised_solve(points, dim):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(points, dim)), rng.integers(0, 3, points)
    fit = analysis.ridge_fit(x=x, y=y, num_classes=3, l2=0.5)
    standardised = (x - x.mean(0)) / (x.std(0) + 1e-5)
    design = np.hstack([standardised, np.full((points, 1), BIAS_FEATURE)])
    targets = 2.0 * np.eye(3)[y] - 1.0
    stacked = np.vstack([design, np.sqrt(0.5) * np.eye(dim + 1)])  # ridge as plain least squares
    padded = np.vstack([targets, np.zeros((dim + 1, 3))])
    expected = np.linalg.lstsq(stacked, padded, rcond=None)[0]
    np.testing.assert_allclose(fit["weights"], expected, rtol=1e-6, atol=1e-8)


def _clusters(*, rng, centres: np.ndarray, per_class: int):
    y = np.repeat(np.arange(len(centres)), per_class)
    return centres[y] + rng.normal(size=(len(y), centres.shape[1])), y


def test_separable_features_score_near_100_and_random_ones_near_chance():
    rng = np.random.default_rng(1)
    centres = 10 * rng.normal(size=(4, 16))
    train = _clusters(rng=rng, centres=centres, per_class=30)
    test = _clusters(rng=rng, centres=centres, per_class=50)
    separable = analysis.fewshot_accuracies(
        train=train, test=test, num_classes=4, shots=(5, 25), seeds=3
    )
    assert min(min(v) for v in separable.values()) >= 0.98
    noise_train = (rng.normal(size=(120, 16)), np.repeat(np.arange(4), 30))
    noise_test = (rng.normal(size=(2000, 16)), np.repeat(np.arange(4), 500))
    chance = analysis.fewshot_accuracies(
        train=noise_train, test=noise_test, num_classes=4, shots=(25,), seeds=3
    )
    assert abs(np.mean(chance[25]) - 0.25) < 0.05
    assert analysis.fewshot_accuracies(train=train, test=test, num_classes=4, shots=(31,)) == {}


def test_the_representation_is_the_heads_input(tmp_path):
    source = random_checkpoint(
        tmp_path / "vit", model="ViT-Ti_16", num_classes=3, image_size=(16, 16), seed=0, **SMALL_VIT
    )
    loaded = checkpoints.load(directory=source)
    model = models.create_model("ViT-Ti_16", num_classes=3, **SMALL_VIT)
    images = jax.random.uniform(jax.random.key(0), (2, 16, 16, 3), minval=-1)
    features = analysis.head_input_fn(model)(loaded.variables, images)
    head = loaded.variables["params"]["head"]
    logits = features @ head["kernel"] + head["bias"]
    np.testing.assert_allclose(
        logits, model.apply(loaded.variables, images, train=False), atol=1e-5
    )
    assert features.shape == (2, SMALL_VIT["hidden_size"])


def test_the_command_prints_the_table_and_reuses_cached_features(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIT_JAX_CACHE", str(tmp_path / "cache"))
    source = random_checkpoint(
        tmp_path / "vit",
        model="ViT-Ti_16",
        num_classes=10,
        image_size=(8, 8),
        seed=1,
        **{**SMALL_VIT, "patches": (2, 2)},
    )
    args = [
        "--checkpoint",
        str(source),
        "--dataset",
        "digits",
        "--shots",
        "1,5,500",
        "--seeds",
        "2",
    ]
    assert fewshot.main(args) == 0
    first = capsys.readouterr().out
    assert "| 1 |" in first and "| 5 |" in first and "| 500 | n/a" in first
    cached = sorted((tmp_path / "cache" / "fewshot").glob("*.npz"))
    assert len(cached) == 2  # train and test features
    monkeypatch.setattr(analysis, "head_input_fn", lambda model: pytest.fail("features recomputed"))
    assert fewshot.main(args) == 0
    assert capsys.readouterr().out == first
