"""Few-shot linear evaluation: the closed-form map equals a direct solve of the regularised
least-squares problem, separable features score near 100% and random ones near chance, the head's
input is the representation, the command prints its table from cached features, and a study
cell in mode 'fewshot' reports the same numbers."""

import json

import jax
import ml_collections
import numpy as np
import pytest
from checkpoint_writers import SMALL_VIT, random_checkpoint
from main_cli import tiny_quickstart

from vit_jax import checkpoints, fewshot, models
from vit_jax.analysis import fewshot as analysis
from vit_jax.analysis.fewshot import BIAS_FEATURE
from vit_jax.training.config_checks import ConfigError, check_config
from vit_jax.training.loop import train_and_evaluate


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
    features = models.head_input_fn(model)(loaded.variables, images)
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
    real_classifier = analysis.Classifier
    monkeypatch.setattr(analysis, "Classifier", lambda **kwargs: pytest.fail("features recomputed"))
    assert fewshot.main([*args, "--output", str(tmp_path / "report")]) == 0
    assert capsys.readouterr().out.startswith(first)
    report = json.loads((tmp_path / "report" / "fewshot.json").read_text())
    assert [e["shots"] for e in report["fewshot"]] == [1, 5, 500]
    assert "| 5 |" in (tmp_path / "report" / "fewshot.md").read_text()
    cached[0].write_bytes(cached[0].read_bytes()[:100])  # a damaged cache entry: recomputed
    monkeypatch.setattr(analysis, "Classifier", real_classifier)
    assert fewshot.main(args) == 0
    assert capsys.readouterr().out == first


def test_a_fewshot_cell_reports_the_commands_accuracies(tmp_path, monkeypatch, capsys):
    """config.mode='fewshot' (the study's few-shot cells): results.json and results.md hold the
    k-shot accuracies per seed, equal to the fewshot command's on the same checkpoint."""
    monkeypatch.setenv("VIT_JAX_CACHE", str(tmp_path / "cache"))
    overrides = {**SMALL_VIT, "patches": (2, 2)}
    source = random_checkpoint(
        tmp_path / "vit", model="ViT-Ti_16", num_classes=10, image_size=(8, 8), seed=2, **overrides
    )
    config = tiny_quickstart(mode="fewshot", init="checkpoint", checkpoint_dir=str(source))
    config.model_overrides = ml_collections.ConfigDict(overrides)
    config.fewshot.update(shots=(1, 5), seeds=3)
    results = train_and_evaluate(config=config, workdir=tmp_path / "run")
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["mode"] == "fewshot" and written["fewshot"] == results["fewshot"]
    assert [len(e["accuracies"]) for e in written["fewshot"]] == [3, 3]
    capsys.readouterr()
    args = ["--checkpoint", str(source), "--dataset", "digits", "--shots", "1,5", "--seeds", "3"]
    assert fewshot.main(args) == 0
    table = capsys.readouterr().out.split("\n", 1)[1]
    assert table in (tmp_path / "run" / "results.md").read_text()
    five = written["fewshot"][1]
    assert f"| 5 | {100 * five['mean']:.2f} | {100 * five['std']:.2f} | 3 |" in table


def test_a_fewshot_cell_needs_a_checkpoint():
    with pytest.raises(ConfigError, match="mode='fewshot' evaluates a pre-trained model"):
        check_config(tiny_quickstart(mode="fewshot"))
