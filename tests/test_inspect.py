"""Inspecting a ViT (paper Figures 6 and 7): the sown attention weights are the model's own and
cost nothing when not asked for, rollout and attention distance match independent computations,
the filters' principal components match an eigendecomposition, the position similarity matches
numpy, and the command writes every figure (non-square grids, the hybrid) and refuses ResNets."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from checkpoint_writers import SMALL_VIT, random_checkpoint
from PIL import Image

from vit_jax import checkpoints, inspect, models
from vit_jax.analysis import attention_maps, embeddings
from vit_jax.analysis.inspection import inspect_checkpoint, neighbour_similarity
from vit_jax.models.vit import SOWN

IMAGE_SIZE = (16, 24)  # a 4x6 grid of 4x4 patches


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    directory = tmp_path_factory.mktemp("inspect") / "vit"
    random_checkpoint(
        directory, model="ViT-Ti_16", num_classes=3, image_size=IMAGE_SIZE, seed=3, **SMALL_VIT
    )
    loaded = checkpoints.load(directory=directory)
    model = models.create_model("ViT-Ti_16", num_classes=3, **SMALL_VIT)
    images = jax.random.uniform(jax.random.key(4), (3, *IMAGE_SIZE, 3), minval=-1)
    return directory, model, loaded.variables, images


def test_sown_weights_are_softmax_of_the_first_blocks_queries_and_keys(tiny_vit):
    _, model, variables, images = tiny_vit
    weights, grid = models.attention_weights_fn(model)(variables, images)
    assert grid == (4, 6) and len(weights) == SMALL_VIT["num_layers"]
    params = variables["params"]
    patches = images.reshape(3, 4, 4, 6, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(3, 24, 48)
    embedding = params["embedding"]
    tokens = patches @ embedding["kernel"].reshape(48, -1) + embedding["bias"]
    tokens = jnp.concatenate([jnp.broadcast_to(params["cls"], (3, 1, 32)), tokens], axis=1)
    block = params["Transformer"]["encoderblock_0"]
    z = tokens + params["Transformer"]["posembed_input"]["pos_embedding"]
    mean, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
    norm = block["LayerNorm_0"]
    x = (z - mean) / np.sqrt(var + 1e-6) * norm["scale"] + norm["bias"]
    mha = block["MultiHeadDotProductAttention_0"]
    q = np.einsum("btd,dhk->bhtk", x, mha["query"]["kernel"]) + mha["query"]["bias"][:, None]
    k = np.einsum("btd,dhk->bhtk", x, mha["key"]["kernel"]) + mha["key"]["bias"][:, None]
    logits = np.einsum("bhtk,bhsk->bhts", q, k) / np.sqrt(q.shape[-1])
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(weights[0], expected, atol=2e-5)
    assert weights[-1].shape == (3, 4, 25, 25)  # the last block on every token when sown


def test_sowing_changes_no_output_and_the_plain_path_keeps_the_fast_kernel(tiny_vit):
    _, model, variables, images = tiny_vit
    plain = model.apply(variables, images, train=False)
    sown, state = model.apply(variables, images, train=False, mutable=[SOWN])
    np.testing.assert_allclose(sown, plain, atol=1e-5)
    assert np.abs(plain).max() > 1e-3  # the random head makes the logits informative
    assert len(state[SOWN]["Transformer"]) == SMALL_VIT["num_layers"]
    plain_jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False))(variables, images)
    sown_jaxpr = jax.make_jaxpr(lambda v, x: model.apply(v, x, train=False, mutable=[SOWN]))(
        variables, images
    )
    kernel = "name=softmax_attention"  # the attention kernel: no weights formed outside it
    assert str(plain_jaxpr).count(kernel) == SMALL_VIT["num_layers"]
    assert kernel not in str(sown_jaxpr)  # explicit weights only when asked for


def _rollout_by_loops(attentions: list[np.ndarray]) -> np.ndarray:
    """Abnar and Zuidema's rollout written out: rows of A sum to 1, so (A + I) re-normalised is
    (A + I) / 2; the joint map of layer l is that of layer l times the previous joint map."""
    batch, _, tokens, _ = attentions[0].shape
    result = np.zeros((batch, tokens, tokens))
    for b in range(batch):
        joint = np.eye(tokens)
        for weights in attentions:
            averaged = sum(weights[b, h] for h in range(weights.shape[1])) / weights.shape[1]
            joint = ((averaged + np.eye(tokens)) / 2) @ joint
        result[b] = joint
    return result


def test_the_classifier_gives_the_same_attention_over_several_batches(tiny_vit):
    from vit_jax.inference.classifier import Classifier

    directory, model, variables, _ = tiny_vit
    pixels = np.random.default_rng(5).integers(0, 256, (5, *IMAGE_SIZE, 3), dtype=np.uint8)
    classifier = Classifier(checkpoint=directory, batch_size=2)  # batches of 2, 2 and 1 image
    weights, grid = classifier.attention(list(pixels))
    inputs = np.stack([classifier.preprocess(image) for image in pixels])
    expected, expected_grid = models.attention_weights_fn(model)(variables, inputs)
    assert grid == expected_grid and len(weights) == len(expected)
    for ours, theirs in zip(weights, expected, strict=True):
        assert ours.shape == theirs.shape == (5, SMALL_VIT["num_heads"], 25, 25)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_rollout_equals_the_product_written_out(tiny_vit):
    _, model, variables, images = tiny_vit
    weights, grid = models.attention_weights_fn(model)(variables, images)
    expected = _rollout_by_loops(weights)
    np.testing.assert_allclose(attention_maps.rollout(weights), expected, rtol=1e-6)
    maps = attention_maps.class_token_maps(weights, grid=grid)
    assert maps.shape == (3, 4, 6)
    np.testing.assert_allclose(maps[1], expected[1, 0, 1:].reshape(4, 6) / expected[1, 0, 1:].max())


def test_attention_distance_is_zero_for_self_attention_and_known_for_uniform_attention():
    grid = (2, 3)
    tokens = 1 + 6
    self_only = np.broadcast_to(np.eye(tokens), (2, 4, tokens, tokens))
    distance = attention_maps.mean_attention_distance(self_only, grid=grid, patch_pixels=(16, 16))
    np.testing.assert_allclose(distance, 0.0)
    uniform = np.full((1, 1, 3, 3), 1 / 3)  # class token + a 1x2 grid: distances 0 and 16
    one_row = attention_maps.mean_attention_distance(uniform, grid=(1, 2), patch_pixels=(16, 16))
    np.testing.assert_allclose(one_row, 8.0)
    square = np.full((1, 2, 5, 5), 1 / 5)  # a 2x2 grid: 0, 16, 16 and 16 sqrt(2) from each
    known = (32 + 16 * math.sqrt(2)) / 4
    both = attention_maps.mean_attention_distance(square, grid=(2, 2), patch_pixels=(16, 16))
    np.testing.assert_allclose(both, known)
    tall = attention_maps.mean_attention_distance(square, grid=(2, 2), patch_pixels=(8, 6))
    np.testing.assert_allclose(tall, (8 + 6 + 10) / 4)


def test_filter_components_match_an_eigendecomposition_of_the_covariance():
    kernel = np.random.default_rng(0).normal(size=(4, 4, 3, 64))
    components, variance = embeddings.filter_components(kernel=kernel, count=5)
    filters = kernel.reshape(48, 64).T
    values, vectors = np.linalg.eigh(np.cov(filters, rowvar=False))
    order = np.argsort(values)[::-1][:5]
    for component, vector in zip(components.reshape(5, 48), vectors[:, order].T, strict=True):
        assert abs(abs(component @ vector) - 1) < 1e-8  # equal up to sign
    np.testing.assert_allclose(variance, values[order] / values.sum(), rtol=1e-8)
    assert components.shape == (5, 4, 4, 3)


def test_position_similarity_matches_numpy_and_refuses_a_wrong_grid():
    rng = np.random.default_rng(1)
    pos_embedding = rng.normal(size=(1, 1 + 6, 8))
    similarity = embeddings.position_similarity(pos_embedding=pos_embedding, grid=(2, 3))
    a, b = pos_embedding[0, 1 + 2], pos_embedding[0, 1 + 4]  # (0, 2) and (1, 1)
    expected = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    np.testing.assert_allclose(similarity[0, 2, 1, 1], expected)
    np.testing.assert_allclose(np.einsum("ijij->ij", similarity), 1.0)
    with pytest.raises(ValueError, match="6 patch positions, not the 3x3 grid"):
        embeddings.position_similarity(pos_embedding=pos_embedding, grid=(3, 3))
    near, far = neighbour_similarity(similarity)
    flat = similarity.reshape(6, 6)
    pairs = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]  # row-major 2x3 neighbours
    assert near == pytest.approx(np.mean([flat[i, j] for i, j in pairs]))
    assert far < 1


def _images(folder, count):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


FIGURES = (
    "figure6_rollout.png",
    "figure7_filters.png",
    "figure7_position_similarity.png",
    "figure7_attention_distance.png",
)


def test_the_command_writes_every_figure_and_lists_unreadable_files(tiny_vit, tmp_path, capsys):
    source = tiny_vit[0]
    folder = _images(tmp_path / "images", 5)
    (folder / "broken.jpg").write_bytes(b"not an image")
    output = tmp_path / "out"
    args = ["--checkpoint", str(source), "--images", str(folder), "--output", str(output)]
    status = inspect.main([*args, "--rollout_images", "2", "--batch_size", "4"])
    captured = capsys.readouterr()
    assert status == 1 and "broken.jpg" in captured.err and "Traceback" not in captured.err
    for name in FIGURES:
        assert Image.open(output / name).size[0] > 300
    text = (output / "inspect.md").read_text()
    assert "grid of 4 rows and 6 columns" in text and "5 image(s)" in text
    assert text.count("| ") >= SMALL_VIT["num_layers"] and all(n in text for n in FIGURES)


def test_the_hybrid_uses_its_backbone_grid_and_skips_the_pixel_filters(tmp_path):
    overrides = {
        "patches": (1, 1),
        "hidden_size": 16,
        "mlp_dim": 32,
        "num_heads": 2,
        "num_layers": 1,
        "resnet": {"num_layers": [1, 1], "width_factor": 1},
    }
    source = random_checkpoint(
        tmp_path / "hybrid",
        model="R50+ViT-B_16",
        num_classes=3,
        image_size=(32, 48),
        seed=0,
        **overrides,
    )
    written, failed = inspect_checkpoint(
        checkpoint=source, paths=sorted(_images(tmp_path / "images", 2).iterdir()), output=tmp_path
    )
    assert not failed
    names = {path.name for path in written}
    assert "figure7_filters.png" not in names and "figure6_rollout.png" in names
    text = (tmp_path / "inspect.md").read_text()
    assert "grid of 4 rows and 6 columns" in text  # stride 8 of the two-stage backbone
    assert "reads backbone features, not RGB pixels" in text


def test_a_resnet_is_refused_in_one_line(tmp_path, capsys):
    source = random_checkpoint(
        tmp_path / "resnet",
        model="ResNet-50",
        num_classes=3,
        image_size=(32, 32),
        seed=0,
        num_layers=[1],
    )
    folder = _images(tmp_path / "images", 1)
    status = inspect.main(
        ["--checkpoint", str(source), "--images", str(folder), "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert status == 1 and "holds a ResNet-50" in err and "fewshot" in err
    assert len(err.strip().splitlines()) == 1


def test_a_vit_without_class_token_is_refused_in_one_line(tmp_path, capsys):
    source = random_checkpoint(
        tmp_path / "gap",
        model="ViT-Ti_16",
        num_classes=3,
        image_size=(16, 16),
        seed=0,
        classifier="gap",
        **SMALL_VIT,
    )
    folder = _images(tmp_path / "images", 1)
    status = inspect.main(
        ["--checkpoint", str(source), "--images", str(folder), "--output", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert status == 1 and "without a class token (classifier 'gap')" in err
    assert len(err.strip().splitlines()) == 1
