"""vit_jax.checkpoints: position-embedding resizing, head replacement at load time, bit-exact
Orbax round trips, metadata, and refusal to overwrite or leave partial checkpoints."""

import json
import re
import threading
from functools import partial

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import scipy.ndimage
from checkpoint_writers import torch_bilinear
from flax import traverse_util

from vit_jax import checkpoints
from vit_jax.common.errors import describe
from vit_jax.common.staged_folder import staged_folder
from vit_jax.models import create_model


@pytest.mark.parametrize(
    ("grid", "new_grid"),
    [((14, 14), (24, 24)), ((14, 14), (12, 20)), ((24, 24), (14, 14))],
    ids=["224to384", "non_square", "384to224"],
)
def test_position_embedding_resize_is_the_original_codes_order_1_zoom(grid, new_grid):
    """As the original vit_jax (checkpoint.resize_posemb) and big_vision do it: scipy's order-1
    zoom of the patch grid, class row kept; torch's align_corners=True bilinear agrees."""
    rng = np.random.default_rng(0)
    pos_embedding = rng.standard_normal((1, 1 + grid[0] * grid[1], 32)).astype(np.float32)
    resized = checkpoints.resize_position_embedding(
        pos_embedding=pos_embedding, grid=grid, new_grid=new_grid
    )
    assert resized.shape == (1, 1 + new_grid[0] * new_grid[1], 32)
    assert np.array_equal(resized[:, 0], pos_embedding[:, 0])
    patches = pos_embedding[0, 1:].reshape(*grid, 32)
    zoom = (new_grid[0] / grid[0], new_grid[1] / grid[1], 1)
    expected = scipy.ndimage.zoom(patches, zoom, order=1).reshape(-1, 32)
    np.testing.assert_allclose(resized[0, 1:], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        resized[0, 1:], torch_bilinear(pos_embedding, grid, new_grid), rtol=0, atol=1e-5
    )


def test_position_embedding_resize_by_hand():
    """2x2 -> 4x4: rows/columns are sampled at 0, 1/3, 2/3, 1 of the old grid (corners kept),
    so the value 2*row + column becomes 2*r + c at those positions."""
    grid_values = np.array([[0.0, 1.0], [2.0, 3.0]], np.float32)
    pos_embedding = np.concatenate([[[7.0]], grid_values.reshape(4, 1)])[None].astype(np.float32)
    resized = checkpoints.resize_position_embedding(
        pos_embedding=pos_embedding, grid=(2, 2), new_grid=(4, 4)
    )
    at = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    expected = 2 * at[:, None] + at[None, :]
    assert resized[0, 0, 0] == 7.0
    np.testing.assert_allclose(resized[0, 1:, 0].reshape(4, 4), expected, atol=1e-6)


def test_unchanged_grid_is_returned_as_is():
    pos_embedding = np.ones((1, 5, 3), np.float32)
    result = checkpoints.resize_position_embedding(
        pos_embedding=pos_embedding, grid=(2, 2), new_grid=(2, 2)
    )
    assert result is pos_embedding


def tiny_vit_checkpoint(directory, *, pre_logits: bool, overwrite: bool = False) -> dict:
    """A converted-checkpoint directory for ViT-Ti_16 at 32x32 with random values."""
    overrides = {"representation_size": 192 if pre_logits else None}
    model = create_model("ViT-Ti_16", num_classes=7, **overrides)
    images = np.zeros((1, 32, 32, 3), np.float32)
    variables = jax.eval_shape(partial(model.init, train=False), jax.random.key(0), images)
    rng = np.random.default_rng(1)
    variables = jax.tree.map(lambda v: rng.standard_normal(v.shape).astype(np.float32), variables)
    metadata = {
        "model": "ViT-Ti_16",
        "source_format": "vit_npz",
        "source_file": "/nowhere/ti.npz",
        "sha256": "0" * 64,
        "image_size": [32, 32],
        "num_classes": 7,
        "head_kept": True,
        "label_names": [f"c{i}" for i in range(7)],
        "preprocessing": {"value_range": [-1, 1], "resize_method": "bilinear"},
        "model_overrides": {
            "gelu_approximate": True,
            "layer_norm_epsilon": 1e-6,
            **overrides,
        },
    }
    checkpoints.save(
        directory=directory, variables=variables, metadata=metadata, overwrite=overwrite
    )
    return {"variables": variables, "metadata": metadata}


def bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).view(np.uint32)


def test_restore_is_bit_exact_and_metadata_round_trips(tmp_path):
    variables = {
        "params": {"a": {"kernel": np.array([0.1, -0.0, np.inf, 1e-42, np.nan], np.float32)}},
        "batch_stats": {"bn": {"mean": np.arange(6, dtype=np.float32).reshape(2, 3) / 7}},
    }
    metadata = {
        "model": "ResNet-50",
        "num_classes": 3,
        "image_size": [224, 224],
        "preprocessing": {"value_range": [-1, 1]},
        "model_overrides": {},
        "layer_norm_epsilon": 1e-12,
    }
    checkpoints.save(
        directory=tmp_path / "ck", variables=variables, metadata=metadata, overwrite=False
    )
    restored = checkpoints.restore(directory=tmp_path / "ck")
    assert restored.metadata == metadata
    assert json.loads((tmp_path / "ck" / "metadata.json").read_text()) == metadata
    flat = traverse_util.flatten_dict(restored.variables)
    expected = traverse_util.flatten_dict(variables)
    assert flat.keys() == expected.keys()
    for key, array in expected.items():
        assert flat[key].dtype == np.float32 and flat[key].shape == array.shape
        assert np.array_equal(bits(flat[key]), bits(array)), key


def test_load_replaces_head_and_resizes_position_embedding(tmp_path):
    written = tiny_vit_checkpoint(tmp_path / "ck", pre_logits=True)
    kept = checkpoints.load(directory=tmp_path / "ck")
    assert kept.metadata == written["metadata"]
    assert "pre_logits" in kept.variables["params"]

    loaded = checkpoints.load(directory=tmp_path / "ck", num_classes=3, image_size=(64, 48))
    params, meta = loaded.variables["params"], loaded.metadata
    assert "pre_logits" not in params
    assert params["head"]["kernel"].shape == (192, 3) and not params["head"]["kernel"].any()
    assert not params["head"]["bias"].any()
    assert meta["num_classes"] == 3 and meta["head_kept"] is False
    assert meta["label_names"] is None and meta["image_size"] == [64, 48]
    assert meta["model_overrides"]["representation_size"] is None
    original = written["variables"]["params"]["Transformer"]["posembed_input"]["pos_embedding"]
    resized = params["Transformer"]["posembed_input"]["pos_embedding"]
    assert resized.shape == (1, 1 + 4 * 3, 192)
    np.testing.assert_allclose(resized[0, 1:], torch_bilinear(original, (2, 2), (4, 3)), atol=1e-5)
    before = traverse_util.flatten_dict(written["variables"]["params"], sep="/")
    after = traverse_util.flatten_dict(params, sep="/")
    for path, array in after.items():
        if not path.startswith(("head/", "Transformer/posembed_input/")):
            assert np.array_equal(array, before[path]), path
    model = create_model(meta["model"], num_classes=3, **meta["model_overrides"])
    apply = jax.jit(partial(model.apply, train=False))
    logits = apply(loaded.variables, np.zeros((2, 64, 48, 3), np.float32))
    assert logits.shape == (2, 3) and not np.asarray(logits).any()


def test_load_refuses_image_size_off_the_patch_grid(tmp_path):
    tiny_vit_checkpoint(tmp_path / "ck", pre_logits=False)
    with pytest.raises(ValueError, match="not divisible by the 16-pixel patch grid"):
        checkpoints.load(directory=tmp_path / "ck", image_size=(40, 48))


def test_missing_checkpoint_names_the_conversion_command(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        checkpoints.load(directory=tmp_path / "ViT-B_16-imagenet21k")
    message = str(error.value)
    assert "python -m vit_jax.convert_checkpoint" in message
    assert "--input vit-b16-in1k " in message
    assert str(tmp_path / "ViT-B_16-imagenet21k") in message


def test_existing_checkpoint_needs_overwrite_and_other_folders_are_refused(tmp_path):
    first = tiny_vit_checkpoint(tmp_path / "ck", pre_logits=False)
    with pytest.raises(FileExistsError, match="add --overwrite"):
        tiny_vit_checkpoint(tmp_path / "ck", pre_logits=True)
    metadata = {**first["metadata"], "sha256": "1" * 64}
    checkpoints.save(
        directory=tmp_path / "ck",
        variables={"params": {"x": np.ones(2, np.float32)}},
        metadata=metadata,
        overwrite=True,
    )
    assert checkpoints.restore(directory=tmp_path / "ck").metadata["sha256"] == "1" * 64
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="holds notes.txt, which is not part of a converted"):
        checkpoints.save(directory=tmp_path / "other", variables={}, metadata={}, overwrite=True)
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "other"]


def test_a_save_that_fills_the_disk_leaves_nothing_and_names_the_output(tmp_path, monkeypatch):
    def fail(self, directory, *args, **kwargs):
        directory.mkdir()
        (directory / "half-written").write_text("")
        # As tensorstore reports it from Orbax's writing thread: a ValueError's text.
        raise ValueError(
            f'RESOURCE_EXHAUSTED: Error writing "params.head.bias/0" in OCDBT database at local '
            f'file "{directory}/": Failed to write 1024 bytes to file 15: No space left on device '
            "[os_error_code='28']"
        )

    monkeypatch.setattr(ocp.Checkpointer, "save", fail)
    with pytest.raises(OSError) as error:
        checkpoints.save(directory=tmp_path / "ck", variables={}, metadata={}, overwrite=False)
    assert describe(error.value) == (
        f"No space left on device: {tmp_path / 'ck'} (free some space or write elsewhere)"
    )
    assert list(tmp_path.iterdir()) == []


def test_overwrite_never_deletes_a_folder_that_also_holds_other_files(tmp_path):
    """A converted checkpoint's folder that the user also keeps files in is refused, even with
    --overwrite: metadata.json alone does not make the folder the project's."""
    tiny_vit_checkpoint(tmp_path / "ck", pre_logits=False)
    (tmp_path / "ck" / "precious.txt").write_text("mine")
    (tmp_path / "ck" / "notes").mkdir()
    (tmp_path / "ck" / "notes" / "thesis.tex").write_text("mine too")
    with pytest.raises(FileExistsError, match="notes, which is not part of a converted checkpoint"):
        tiny_vit_checkpoint(tmp_path / "ck", pre_logits=True, overwrite=True)
    assert (tmp_path / "ck" / "precious.txt").read_text() == "mine"
    assert (tmp_path / "ck" / "notes" / "thesis.tex").read_text() == "mine too"
    assert (tmp_path / "ck" / checkpoints.METADATA_FILE).is_file()


def test_two_writers_of_one_new_folder_cannot_replace_each_other(tmp_path):
    """The second writer waits for the first and then finds its output: refused, not swapped."""
    target, errors = tmp_path / "out", []
    inside, release = threading.Event(), threading.Event()
    fields = {"owned": frozenset({"a"}), "kind": "test output", "overwrite": False}

    def first():
        with staged_folder(target, **fields) as staging:
            (staging / "a").write_text("first")
            inside.set()
            release.wait(30)

    def second():
        try:
            with staged_folder(target, **fields) as staging:
                (staging / "a").write_text("second")
        except FileExistsError as error:
            errors.append(str(error))

    threads = [threading.Thread(target=first)]
    threads[0].start()
    inside.wait(30)
    threads.append(threading.Thread(target=second))
    threads[1].start()
    threads[1].join(0.5)
    assert threads[1].is_alive()  # waiting for the first writer's lock
    release.set()
    for thread in threads:
        thread.join(30)
    assert (target / "a").read_text() == "first"
    assert len(errors) == 1 and "already holds a test output; add --overwrite" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_leftovers_of_killed_writers_are_cleaned_and_a_set_aside_version_comes_back(tmp_path):
    owned = frozenset({"a"})
    (tmp_path / ".out.partial-x1").mkdir()  # a killed writer's staging folder
    (tmp_path / ".out.partial-x2.old").mkdir()  # the old version, set aside by a killed swap
    (tmp_path / ".out.partial-x2.old" / "a").write_text("old")
    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "out", owned=owned, kind="test output", overwrite=True):
            raise RuntimeError("the new version failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "a").read_text() == "old"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"model": None}, "model=None must be a model name"),
        ({"num_classes": 0}, "num_classes=0 must be a positive integer"),
        ({"image_size": [0, 32]}, "image_size=[0, 32] must be two positive integers"),
        ({"label_names": ["a", "b"]}, "label_names=['a', 'b'] must be null or 7 strings"),
        ({"label_names": [1, 2, 3, 4, 5, 6, 7]}, "label_names=[1, 2, 3, 4, 5, 6, 7] must be null"),
        ({"preprocessing": None}, "preprocessing=None must be a JSON object"),
    ],
)
def test_a_damaged_metadata_file_is_named_with_its_field(tmp_path, change, message):
    tiny_vit_checkpoint(tmp_path / "ck", pre_logits=False)
    path = tmp_path / "ck" / checkpoints.METADATA_FILE
    metadata = json.loads(path.read_text())
    path.write_text(json.dumps({**metadata, **change}))
    with pytest.raises(ValueError, match=re.escape(f"{path}: {message}")):
        checkpoints.load(directory=tmp_path / "ck")


def test_a_truncated_metadata_file_is_named(tmp_path):
    tiny_vit_checkpoint(tmp_path / "ck", pre_logits=False)
    path = tmp_path / "ck" / checkpoints.METADATA_FILE
    path.write_text(path.read_text()[:40])
    with pytest.raises(ValueError, match=re.escape(f"{path} is not valid JSON")):
        checkpoints.load(directory=tmp_path / "ck")
