"""grain loaders: preprocessing, shuffling, padding, sharding, workers, saving/restoring state."""

import grain
import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from vit_jax.data.digits import digits_split
from vit_jax.data.input_pipeline import Preprocess, create_loader, get_info
from vit_jax.data.prepare import prepare
from vit_jax.data.preprocessing import (
    inception_crop_box,
    normalise,
    normalise_on_device,
    parse_preprocessing,
)

EXACT = {"value_range": [0, 1], "resize_method": "nearest"}  # 8x8 digits pass through unchanged


def digits_loader(**overrides) -> grain.DataLoader:
    kwargs = dict(
        dataset="digits",
        data_dir=None,
        split="train",
        batch_size=34,
        image_size=(8, 8),
        preprocessing=EXACT,
        train=True,
        seed=3,
    )
    return create_loader(**{**kwargs, **overrides})


def pixel_keys(images: np.ndarray) -> list[bytes]:
    """The uint8 digits pixels behind EXACT-preprocessed images (every digits image is unique)."""
    return [np.round(image * 255).astype(np.uint8).tobytes() for image in images]


def test_normalisation_follows_value_range_or_mean_and_std():
    pixels = np.array([[[0, 128, 255]]], np.uint8)
    to_range = parse_preprocessing(preprocessing={"value_range": [-1, 1]})
    np.testing.assert_allclose(
        normalise(pixels=pixels, normalisation=to_range), [[[-1, 128 / 255 * 2 - 1, 1]]], atol=1e-6
    )
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    imagenet = parse_preprocessing(
        preprocessing={"mean": mean, "std": std, "resize_method": "bicubic"}
    )
    expected = [[[(0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (1 - 0.406) / 0.225]]]
    np.testing.assert_allclose(
        normalise(pixels=pixels, normalisation=imagenet), expected, atol=1e-5
    )
    assert imagenet.resize_method == "bicubic" and to_range.resize_method == "bilinear"


@pytest.mark.parametrize(
    "preprocessing, named",
    [
        ({}, "exactly one"),
        ({"value_range": [-1, 1], "mean": [0.5] * 3, "std": [0.5] * 3}, "exactly one"),
        ({"value_range": [1, -1]}, "lo < hi"),
        ({"value_range": [-1, 0, 1]}, "value_range"),
        ({"mean": [123.7, 116.3, 103.5], "std": [58.4, 57.1, 57.4]}, "0, 1"),
        ({"value_range": [-1, 1], "resize_method": "cubic"}, "cubic"),
        ({"value_range": [-1, 1], "crop": 0.875}, "crop"),
    ],
)
def test_bad_preprocessing_is_rejected_naming_the_fault(preprocessing, named):
    with pytest.raises(ValueError, match=named):
        parse_preprocessing(preprocessing=preprocessing)


def test_images_are_resized_to_any_size_with_the_metadata_method():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (102, 136, 3), dtype=np.uint8)
    record = {"image": pixels, "label": 2, "mask": 1.0}
    bicubic = parse_preprocessing(
        preprocessing={"value_range": [-1, 1], "resize_method": "bicubic"}
    )

    out = Preprocess((224, 160), bicubic).random_map(record, np.random.default_rng(0))

    by_hand = np.asarray(Image.fromarray(pixels).resize((160, 224), Image.Resampling.BICUBIC))
    np.testing.assert_allclose(out["image"], by_hand / 127.5 - 1, atol=1e-6)
    assert out["image"].shape == (224, 160, 3) and out["label"] == 2 and out["mask"] == 1
    bilinear = Preprocess((224, 160), parse_preprocessing(preprocessing={"value_range": [-1, 1]}))
    assert not np.allclose(
        bilinear.random_map(record, np.random.default_rng(0))["image"], out["image"]
    )


def test_inception_crop_boxes_respect_area_and_aspect_ranges():
    rng = np.random.default_rng(0)
    for _ in range(500):
        left, top, right, bottom = inception_crop_box(width=136, height=102, rng=rng)
        assert 0 <= left < right <= 136 and 0 <= top < bottom <= 102
        width, height = right - left, bottom - top
        assert 0.04 <= width * height / (136 * 102) <= 1.0
        assert 3 / 4 - 0.1 <= width / height <= 4 / 3 + 0.1 or (width, height) == (136, 102)


def test_augmentation_is_off_by_default_and_changes_images_when_on():
    record = {"image": np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8), "label": 0}
    record["mask"] = 1.0
    plain = Preprocess((8, 8), parse_preprocessing(preprocessing=EXACT))
    augmented = Preprocess((8, 8), parse_preprocessing(preprocessing=EXACT), augment=True)
    outputs = [augmented.random_map(record, np.random.default_rng(s))["image"] for s in range(8)]

    for seed in range(3):
        unchanged = plain.random_map(record, np.random.default_rng(seed))["image"]
        np.testing.assert_array_equal(unchanged, record["image"] / np.float32(255))
    assert sum(not np.array_equal(o, outputs[0]) for o in outputs) >= 6
    np.testing.assert_array_equal(
        augmented.random_map(record, np.random.default_rng(5))["image"], outputs[5]
    )


def test_training_shuffles_by_seed_and_reshuffles_every_epoch():
    train = set(pixel_keys(np.stack([r["image"] for r in digits_split(split="train")]) / 255))
    assert len(train) == 1258

    def stream(seed, num_batches):
        iterator = iter(digits_loader(seed=seed, num_epochs=2))  # 2 * 1258 = 74 batches of 34
        batches = [next(iterator) for _ in range(num_batches)]
        return pixel_keys(np.concatenate([b["image"] for b in batches]))

    first = stream(3, 74)
    epoch_1, epoch_2 = first[:1258], first[1258:]
    assert set(epoch_1) == set(epoch_2) == train and len(set(epoch_1)) == 1258
    assert epoch_1 != epoch_2
    assert stream(3, 3) == first[:102] and stream(4, 3) != first[:102]


def test_evaluation_pads_the_last_batch_and_counts_each_example_once():
    records = digits_split(split="validation")
    batches = list(digits_loader(split="validation", batch_size=32, train=False))

    assert len(batches) == -(-len(records) // 32) and all(len(b["mask"]) == 32 for b in batches)
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.sum() == len(records) and mask[: len(records)].all()
    images = np.concatenate([b["image"] for b in batches])[: len(records)]
    assert pixel_keys(images) == pixel_keys(np.stack([r["image"] for r in records]) / 255)
    labels = np.concatenate([b["label"] for b in batches])
    np.testing.assert_array_equal(labels[: len(records)], [r["label"] for r in records])
    assert labels.dtype == np.int32 and images.dtype == np.float32


def test_each_jax_process_gets_its_own_shard(monkeypatch):
    shards = []
    for process_index in (0, 1):
        monkeypatch.setattr(jax, "process_count", lambda: 2)
        monkeypatch.setattr(jax, "process_index", lambda i=process_index: i)
        evaluation = list(digits_loader(split="validation", batch_size=32, train=False))
        train = list(digits_loader(num_epochs=1))
        shards.append((evaluation, train))
    (eval_0, train_0), (eval_1, train_1) = shards

    assert len(eval_0) == len(eval_1) and eval_0[0]["image"].shape[0] == 16
    real = [
        key
        for batches in (eval_0, eval_1)
        for batch in batches
        for key, m in zip(pixel_keys(batch["image"]), batch["mask"], strict=True)
        if m
    ]
    validation = digits_split(split="validation")
    assert sorted(real) == sorted(pixel_keys(np.stack([r["image"] for r in validation]) / 255))
    keys_0 = set(pixel_keys(np.concatenate([b["image"] for b in train_0])))
    keys_1 = set(pixel_keys(np.concatenate([b["image"] for b in train_1])))
    assert len(keys_0) == len(keys_1) == 1258 // 2 // 17 * 17 and not keys_0 & keys_1


def assert_same_batch(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() == {"image", "label", "mask"}
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_restored_iterator_state_gives_the_exact_next_batch(tmp_path):
    options = dict(augment=True, num_epochs=None, image_size=(12, 10))
    iterator = iter(digits_loader(**options))
    for _ in range(40):  # past the first epoch's 37 batches
        next(iterator)
    state = iterator.get_state()
    manager = ocp.CheckpointManager(tmp_path / "ckpt", item_names=("data",))
    manager.save(40, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(iterator)))
    manager.wait_until_finished()
    expected = [next(iterator) for _ in range(2)]

    restored = iter(digits_loader(**options))
    restored.set_state(state)
    from_orbax = iter(digits_loader(**options))
    manager.restore(
        40, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(from_orbax))
    )

    for batch in expected:
        assert_same_batch(next(restored), batch)
        assert_same_batch(next(from_orbax), batch)
    assert not np.array_equal(expected[0]["image"], expected[1]["image"])


def test_iterator_state_names_the_source_without_its_records():
    """The state is read after every batch (training.prefetch): its size must not grow with the
    dataset, and it must still tell two splits apart on restore."""
    train, validation = iter(digits_loader()), iter(digits_loader(split="validation", train=False))
    next(train)
    next(validation)
    state = train.get_state()
    assert len(state) < 1024
    assert b"digits/train" in state and b"records=1258" in state
    with pytest.raises(ValueError, match="does not match"):
        validation.set_state(state)


def test_worker_processes_share_the_records_and_restore_state_exactly():
    in_process = iter(digits_loader(augment=True))
    first_two = [next(in_process) for _ in range(2)]
    workers = iter(digits_loader(augment=True, worker_count=2))
    from_workers = [next(workers) for _ in range(2)]
    state = workers.get_state()
    expected = [next(workers) for _ in range(2)]

    restored = iter(digits_loader(augment=True, worker_count=2))
    restored.set_state(state)

    for batch in expected:
        assert_same_batch(next(restored), batch)

    # Each worker batches its own records (round robin), each record keeps its random augmentation.
    def examples(batches):
        return sorted(image.tobytes() for batch in batches for image in batch["image"])

    assert examples(from_workers) == examples(first_two)


def test_prepared_folder_loads_through_tfds_data_source(tmp_path, write_image):
    for seed in range(12):
        write_image(tmp_path / "src" / "ab"[seed % 2] / f"{seed}.jpg", seed=seed, size=(136, 102))
    prepare(dataset="image_folder", source_dir=tmp_path / "src", data_dir=tmp_path, name="mine")
    info = get_info(dataset="image_folder:mine", data_dir=tmp_path)

    source = tfds.data_source("image_folder/mine", split="train", data_dir=tmp_path, download=False)
    loader = create_loader(
        dataset="image_folder:mine",
        data_dir=tmp_path,
        split="train",
        batch_size=4,
        image_size=(32, 48),
        preprocessing={"value_range": [-1, 1]},
        train=False,
        seed=0,
    )

    batches = list(loader)
    assert info.class_names == ("a", "b") and len(batches) == -(-info.split_sizes["train"] // 4)
    first = Image.open(tmp_path / "src" / source[0]["file_name"].decode())
    by_hand = np.asarray(first.resize((48, 32), Image.Resampling.BILINEAR)) / 127.5 - 1
    np.testing.assert_allclose(batches[0]["image"][0], by_hand, atol=1e-5)
    assert batches[0]["label"][0] == source[0]["label"]


def test_unprepared_datasets_name_the_prepare_command(tmp_path):
    for dataset, flags in [
        ("shoe_sandal_boot", "--dataset shoe_sandal_boot"),
        ("image_folder:mine", "--dataset image_folder --name mine"),
    ]:
        for call in (get_info, lambda **kw: digits_loader(**kw, split="test")):
            with pytest.raises(FileNotFoundError) as error:
                call(dataset=dataset, data_dir=str(tmp_path))
            message = str(error.value)
            assert f"python -m vit_jax.prepare_data {flags}" in message
            assert f"--data_dir {tmp_path}" in message
    with pytest.raises(ValueError, match="Unknown dataset 'mnist'"):
        get_info(dataset="mnist", data_dir=None)
    with pytest.raises(ValueError, match="one epoch"):
        digits_loader(train=False, num_epochs=None)


@pytest.mark.parametrize(
    "preprocessing",
    [{"value_range": [-1, 1]}, {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}],
)
def test_uint8_batches_normalised_on_the_device_equal_the_host_normalised_ones(preprocessing):
    """The training loop's batches cross to the device as uint8 (a quarter of the bytes)."""
    options = dict(image_size=(16, 16), preprocessing=preprocessing, augment=True, seed=5)
    host = next(iter(digits_loader(**options)))
    pixels = next(iter(digits_loader(**options, pixels=True)))
    assert pixels["image"].dtype == np.uint8 and host["image"].dtype == np.float32
    normalisation = parse_preprocessing(preprocessing=preprocessing)
    device = jax.jit(lambda x: normalise_on_device(images=x, normalisation=normalisation))
    np.testing.assert_allclose(device(pixels["image"]), host["image"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(pixels["label"], host["label"])
