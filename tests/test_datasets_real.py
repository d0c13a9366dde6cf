"""The real Shoe vs Sandal vs Boot images (VIT_JAX_REAL_DATASET or ../shared), prepared once
per session (conftest)."""

import hashlib

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from vit_jax.data.input_pipeline import create_loader, get_info
from vit_jax.data.splits import SPLITS, duplicate_groups

pytestmark = pytest.mark.slow
CLASS_FOLDERS = {"boot": "Boot", "sandal": "Sandal", "shoe": "Shoe"}


def test_real_dataset_is_prepared_whole_stratified_and_leak_free(prepared_real_dataset):
    real = prepared_real_dataset
    data_dir, report = real.data_dir, real.report
    assert real.digest_before == real.digest_after
    files = {
        f"{folder}/{path.name}": path.read_bytes()
        for folder in CLASS_FOLDERS.values()
        for path in (real.source / folder).iterdir()
    }
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

    info = get_info(dataset="shoe_sandal_boot", data_dir=data_dir)

    assert info.class_names == tuple(CLASS_FOLDERS) and info.num_classes == 3
    assert sum(info.split_sizes.values()) == len(files)
    assert report["duplicate_groups"] == duplicate_groups(named_digests=digests.items())
    assert report["ignored"] == sorted(p.name for p in real.source.iterdir() if p.is_file())
    stored = {}
    for split in SPLITS:
        source = tfds.data_source(
            "shoe_sandal_boot",
            split=split,
            data_dir=data_dir,
            download=False,
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        stored[split] = {hashlib.sha256(record["image"]).hexdigest() for record in source}
        per_class = np.bincount([record["label"] for record in source], minlength=3)
        class_sizes = [sum(n.startswith(f"{f}/") for n in files) for f in CLASS_FOLDERS.values()]
        expected = {"train": 0.70, "validation": 0.15, "test": 0.15}[split]
        np.testing.assert_allclose(per_class / class_sizes, expected, atol=0.02, err_msg=split)
        assert per_class.min() / per_class.max() > 0.9, (split, per_class)
    assert set().union(*stored.values()) == set(digests.values())
    assert not (stored["train"] & stored["validation"] or stored["train"] & stored["test"])
    assert not stored["validation"] & stored["test"]


def test_real_dataset_loader_gives_normalised_batches_of_the_source_pixels(prepared_real_dataset):
    data_dir = prepared_real_dataset.data_dir
    source = tfds.data_source("shoe_sandal_boot", split="test", data_dir=data_dir, download=False)
    for record in [source[i] for i in range(0, len(source), 500)]:
        original = Image.open(prepared_real_dataset.source / record["file_name"].decode())
        np.testing.assert_array_equal(record["image"], np.asarray(original.convert("RGB")))

    loader = create_loader(
        dataset="shoe_sandal_boot",
        data_dir=data_dir,
        split="test",
        batch_size=16,
        image_size=(224, 224),
        preprocessing={"value_range": [-1, 1]},
        train=False,
        seed=0,
    )
    batch = next(iter(loader))

    assert batch["image"].shape == (16, 224, 224, 3) and batch["image"].dtype == np.float32
    assert -1 <= batch["image"].min() < -0.5 and 0.99 <= batch["image"].max() <= 1
    labels = [source[i]["label"] for i in range(16)]
    np.testing.assert_array_equal(batch["label"], labels)
