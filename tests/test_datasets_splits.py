"""Content-hash splits: 70/15/15, stable under adding/removing files, duplicates kept together."""

import hashlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from vit_jax.data import digits
from vit_jax.data.prepare import prepare
from vit_jax.data.splits import SPLITS, split_of
from vit_jax.prepare_data import main


def split_by_file(tfds_name, data_dir) -> dict[str, str]:
    """file name -> split of a prepared dataset."""
    splits = {}
    for split in tfds.builder(tfds_name, data_dir=data_dir).info.splits:
        for record in tfds.data_source(tfds_name, split=split, data_dir=data_dir, download=False):
            splits[record["file_name"].decode()] = split
    return splits


def stored_digests(tfds_name, data_dir) -> dict[str, set[str]]:
    """split -> SHA-256 of the stored image bytes of every record."""
    digests = {}
    for split in tfds.builder(tfds_name, data_dir=data_dir).info.splits:
        source = tfds.data_source(
            tfds_name,
            split=split,
            data_dir=data_dir,
            download=False,
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        digests[split] = {hashlib.sha256(record["image"]).hexdigest() for record in source}
    return digests


def test_split_thresholds_are_70_15_15_of_the_digest_range():
    # Smallest 64-bit prefixes at or above 70% and 85% of 2**64.
    edge_train, edge_validation = -(-70 * 2**64 // 100), -(-85 * 2**64 // 100)
    assert split_of(digest=f"{edge_train - 1:016x}" + "f" * 48) == "train"
    assert split_of(digest=f"{edge_train:016x}" + "0" * 48) == "validation"
    assert split_of(digest=f"{edge_validation - 1:016x}" + "f" * 48) == "validation"
    assert split_of(digest=f"{edge_validation:016x}" + "0" * 48) == "test"
    assert split_of(digest="f" * 64) == "test" and split_of(digest="0" * 64) == "train"
    rng = np.random.default_rng(0)
    assigned = [split_of(digest=hashlib.sha256(rng.bytes(16)).hexdigest()) for _ in range(20000)]
    fractions = [assigned.count(split) / len(assigned) for split in SPLITS]
    np.testing.assert_allclose(fractions, [0.70, 0.15, 0.15], atol=0.01)


def test_adding_and_removing_files_moves_no_other_image(tmp_path, write_image):
    first = tmp_path / "first"
    for seed in range(40):
        write_image(first / "ab"[seed % 2] / f"img ({seed}).jpg", seed=seed)
    second = tmp_path / "second"
    shutil.copytree(first, second)
    for seed in range(0, 10, 2):
        (second / "a" / f"img ({seed}).jpg").unlink()
    for seed in range(100, 110):
        write_image(second / "ab"[seed % 2] / f"new ({seed}).jpg", seed=seed)

    prepare(dataset="image_folder", source_dir=first, data_dir=tmp_path / "d1")
    prepare(dataset="image_folder", source_dir=second, data_dir=tmp_path / "d2")

    before = split_by_file("image_folder/first", tmp_path / "d1")
    after = split_by_file("image_folder/second", tmp_path / "d2")
    assert len(before) == 40 and len(after) == 45
    kept = set(before) & set(after)
    assert len(kept) == 35 and {before[name] for name in kept} == set(SPLITS)
    assert all(before[name] == after[name] for name in kept)


def test_duplicates_share_a_split_are_reported_and_splits_do_not_overlap(tmp_path, write_image):
    source = tmp_path / "source"
    for seed in range(30):
        write_image(source / "ab"[seed % 2] / f"{seed}.jpg", seed=seed)
    duplicate = (source / "a" / "0.jpg").read_bytes()
    (source / "a" / "0 (copy).jpg").write_bytes(duplicate)
    (source / "b" / "same as a0.jpg").write_bytes(duplicate)

    _, report = prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d")

    assert report["duplicate_groups"] == [["a/0 (copy).jpg", "a/0.jpg", "b/same as a0.jpg"]]
    splits = split_by_file("image_folder/source", tmp_path / "d")
    assert len({splits[name] for name in report["duplicate_groups"][0]}) == 1
    digests = stored_digests("image_folder/source", tmp_path / "d")
    assert sum(len(d) for d in digests.values()) == 30
    assert len(set().union(*digests.values())) == 30
    counts = {split: sum(report["split_counts"][split].values()) for split in SPLITS}
    assert counts == {split: list(splits.values()).count(split) for split in SPLITS}


def test_digits_splits_are_deterministic_disjoint_and_near_70_15_15():
    first = {split: digits.digits_split(split=split) for split in SPLITS}
    digits._splits.cache_clear()
    second = {split: digits.digits_split(split=split) for split in SPLITS}
    labels = np.array([r["label"] for split in SPLITS for r in first[split]])
    assert len(labels) == 1797
    for label in range(10):
        sizes = np.array([sum(r["label"] == label for r in first[split]) for split in SPLITS])
        np.testing.assert_allclose(sizes / (labels == label).sum(), [0.70, 0.15, 0.15], atol=0.01)
    contents = {}
    for split in SPLITS:
        assert [r["label"] for r in first[split]] == [r["label"] for r in second[split]]
        for a, b in zip(first[split], second[split], strict=True):
            np.testing.assert_array_equal(a["image"], b["image"])
        contents[split] = {r["image"].tobytes() for r in first[split]}
        assert first[split][0]["image"].shape == (8, 8, 3)
        assert first[split][0]["image"].dtype == np.uint8
    assert not contents["train"] & contents["validation"]
    assert not contents["train"] & contents["test"]
    assert not contents["validation"] & contents["test"]
    with pytest.raises(ValueError, match="valid"):
        digits.digits_split(split="val")


def test_prepare_data_command_prints_counts_and_duplicate_groups(tmp_path, write_image, capsys):
    source = tmp_path / "My Shoes"
    for seed in range(12):
        write_image(source / ("boot", "shoe")[seed % 2] / f"{seed}.jpg", seed=seed)
    (source / "shoe" / "dup.jpg").write_bytes((source / "shoe" / "1.jpg").read_bytes())
    args = ["--dataset", "image_folder", "--source_dir", str(source), "--data_dir", str(tmp_path)]

    main(args)

    output = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}
    assert rows["split"] == ["boot", "shoe", "total"]
    splits = split_by_file("image_folder/my_shoes", tmp_path)
    for split in SPLITS:
        names = [name for name in splits if splits[name] == split]
        counts = [sum(name.startswith(c) for name in names) for c in ("boot/", "shoe/")]
        assert rows[split] == [str(c) for c in [*counts, len(names)]]
    assert "shoe/1.jpg == shoe/dup.jpg" in output
    assert "dataset='image_folder:my_shoes'" in output
