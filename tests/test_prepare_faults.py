"""Preparing data under faults: a failed or killed --overwrite keeps the old dataset loadable,
leftovers are cleaned, a changed source is noticed, only regular files are read, and datasets
that cannot train a classifier are refused with their counts."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from main_cli import ROOT, subprocess_env
from tensorflow_datasets.core import file_adapters

from vit_jax.common.errors import describe
from vit_jax.common.staged_folder import STAGING_MARK
from vit_jax.data import folder_scan, input_pipeline
from vit_jax.data.folder_scan import UnreadableImagesError
from vit_jax.data.prepare import prepare


def image_folder(root: Path, write_image, *, count: int = 24, first_seed: int = 0) -> Path:
    """`count` images in classes a and b (enough for every split to get some)."""
    for i in range(count):
        write_image(root / "ab"[i % 2] / f"{i}.jpg", seed=first_seed + i)
    return root


def loadable(data_dir: Path, name: str) -> dict[str, int]:
    """The split sizes of image_folder:<name>, after reading one batch of its training split."""
    dataset = f"image_folder:{name}"
    info = input_pipeline.get_info(dataset=dataset, data_dir=str(data_dir))
    loader = input_pipeline.create_loader(
        dataset=dataset,
        data_dir=str(data_dir),
        split="train",
        batch_size=2,
        image_size=(8, 8),
        preprocessing={"value_range": [-1, 1]},
        train=False,
        seed=0,
    )
    next(iter(loader))
    return info.split_sizes


def test_a_failed_overwrite_keeps_the_old_dataset(tmp_path, write_image):
    source = image_folder(tmp_path / "src", write_image)
    data = tmp_path / "data"
    prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    before = loadable(data, "shoes")
    (source / "a" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(UnreadableImagesError, match="broken.jpg"):
        prepare(
            dataset="image_folder", source_dir=source, data_dir=data, name="shoes", overwrite=True
        )
    assert loadable(data, "shoes") == before
    assert not list(data.glob(f"**/*{STAGING_MARK}*"))


def test_a_full_disk_during_overwrite_names_the_folder_and_keeps_the_old_dataset(
    tmp_path, write_image, monkeypatch
):
    source = image_folder(tmp_path / "src", write_image)
    data = tmp_path / "data"
    prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    before = loadable(data, "shoes")

    def full_disk(path, examples):  # what array_record's writer raises, as text
        raise RuntimeError(f"write() failed: No space left on device; writing {path}")

    monkeypatch.setattr(file_adapters.ArrayRecordFileAdapter, "write_examples", full_disk)
    with pytest.raises(OSError) as error:
        prepare(
            dataset="image_folder", source_dir=source, data_dir=data, name="shoes", overwrite=True
        )
    monkeypatch.undo()
    assert describe(error.value) == (
        f"No space left on device: {data} (free some space or write elsewhere)"
    )
    assert loadable(data, "shoes") == before
    assert not list(data.glob(f"**/*{STAGING_MARK}*"))


def test_a_killed_overwrite_keeps_the_old_dataset_and_its_leftovers_are_cleaned(
    tmp_path, write_image
):
    source = image_folder(tmp_path / "src", write_image)
    data = tmp_path / "data"
    prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    before = loadable(data, "shoes")
    image_folder(source, write_image, count=400, first_seed=100)  # a longer preparation
    command = [sys.executable, "-m", "vit_jax.prepare_data", "--dataset", "image_folder"]
    command += ["--source_dir", str(source), "--data_dir", str(data), "--name", "shoes"]
    process = subprocess.Popen([*command, "--overwrite"], cwd=ROOT, env=subprocess_env())
    deadline = time.monotonic() + 120
    while not any(p.is_file() for p in data.glob(f"**/*{STAGING_MARK}*/**/*")):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert list(data.glob(f"**/*{STAGING_MARK}*"))  # killed while building its new version
    assert loadable(data, "shoes") == before
    _, report = prepare(
        dataset="image_folder", source_dir=source, data_dir=data, name="shoes", overwrite=True
    )
    assert sum(sum(c.values()) for c in report["split_counts"].values()) == 400
    assert not list(data.glob(f"**/*{STAGING_MARK}*"))


def test_a_changed_source_is_not_reported_with_the_old_counts(tmp_path, write_image):
    source = image_folder(tmp_path / "src", write_image)
    prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d", name="x")
    prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d", name="x")
    write_image(source / "a" / "new.jpg", seed=999)
    with pytest.raises(ValueError, match="has changed since .* --overwrite"):
        prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d", name="x")


def test_named_pipes_and_device_links_are_listed_not_read(tmp_path, write_image):
    source = image_folder(tmp_path / "src", write_image)
    os.mkfifo(source / "a" / "pipe.jpg")
    (source / "b" / "zero.jpg").symlink_to("/dev/zero")
    _, report = prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d")
    assert "a/pipe.jpg (not a regular file: named pipe)" in report["ignored"]
    assert "b/zero.jpg (not a regular file: character device)" in report["ignored"]
    assert sum(sum(c.values()) for c in report["split_counts"].values()) == 24


def test_no_file_is_read_past_the_size_bound(tmp_path, write_image, monkeypatch):
    source = image_folder(tmp_path / "src", write_image)
    large = write_image(source / "a" / "large.png", seed=5, size=(300, 300), format="PNG")
    monkeypatch.setattr(folder_scan, "MAX_FILE_BYTES", len(large) - 1)
    with pytest.raises(UnreadableImagesError, match=r"large.png: larger than"):
        prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d")


def test_a_split_without_images_is_refused_with_the_counts(tmp_path, write_image):
    source = image_folder(tmp_path / "src", write_image, count=2)
    with pytest.raises(ValueError, match=r"no image falls into the .* split \(train \d"):
        prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_a_single_class_folder_is_refused(tmp_path, write_image):
    write_image(tmp_path / "src" / "only" / "x.jpg", seed=1)
    with pytest.raises(ValueError, match=r"Only one class folder \(only\)"):
        prepare(dataset="image_folder", source_dir=tmp_path / "src", data_dir=tmp_path / "d")


def test_the_fingerprint_follows_content_not_counts(tmp_path, write_image):
    first = image_folder(tmp_path / "one", write_image)
    second = image_folder(tmp_path / "two", write_image, first_seed=50)
    fingerprints = []
    for source in (first, second, first):
        data = tmp_path / f"data_{len(fingerprints)}"
        prepare(dataset="image_folder", source_dir=source, data_dir=data, name="x")
        fingerprints.append(input_pipeline.fingerprint(dataset="image_folder:x", data_dir=data))
    assert fingerprints[0] == fingerprints[2] != fingerprints[1]
    assert input_pipeline.fingerprint(dataset="digits", data_dir=None) == (
        input_pipeline.fingerprint(dataset="digits", data_dir=None)
    )


def test_a_damaged_or_incomplete_preparation_is_named_and_overwrite_repairs_it(
    tmp_path, write_image
):
    source = image_folder(tmp_path / "src", write_image)
    data = tmp_path / "data"
    folder, _ = prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    before = loadable(data, "shoes")
    info = folder / "dataset_info.json"
    text = info.read_text()
    info.write_text(text[:100])
    with pytest.raises(ValueError, match=f"{info} is damaged .*--overwrite"):
        input_pipeline.get_info(dataset="image_folder:shoes", data_dir=str(data))
    with pytest.raises(ValueError, match=f"{info} is damaged .*--overwrite"):
        prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes")
    prepare(dataset="image_folder", source_dir=source, data_dir=data, name="shoes", overwrite=True)
    assert loadable(data, "shoes") == before
    shard = next(folder.glob("*-test.array_record-*"))
    shard.unlink()
    with pytest.raises(FileNotFoundError, match=f"{shard} is missing .*--overwrite"):
        loadable(data, "shoes")
