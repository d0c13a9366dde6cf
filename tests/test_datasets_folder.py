"""Preparing class-per-folder directories: modes, layouts, bad files, stray files, errors."""

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from conftest import decompression_bomb_png
from PIL import Image

from vit_jax.data import SKIPPED_FILE
from vit_jax.data.folder_scan import UnreadableImagesError
from vit_jax.data.input_pipeline import get_info
from vit_jax.data.prepare import prepare
from vit_jax.data.preprocessing import decode_rgb


def read_all(tfds_name: str, data_dir: Path, *, decode: bool = True) -> dict[str, dict]:
    """Every prepared record of every split, by file name (plus its split)."""
    decoders = None if decode else {"image": tfds.decode.SkipDecoding()}
    records = {}
    for split in tfds.builder(tfds_name, data_dir=data_dir).info.splits:
        source = tfds.data_source(
            tfds_name, split=split, data_dir=data_dir, download=False, decoders=decoders
        )
        for record in source:
            records[record["file_name"].decode()] = {**record, "split": split}
    return records


def fill_every_split(root: Path, write_image, *, count: int = 12) -> list[str]:
    """`count` more images in classes a and b, so that every split receives some (preparation
    refuses a split without images); returns their names."""
    names = [f"{'ab'[i % 2]}/fill{i}.jpg" for i in range(count)]
    for i, name in enumerate(names):
        write_image(root / name, seed=1000 + i)
    return names


def bad_folder(root: Path, write_image) -> list[str]:
    """Two good images and four unreadable files; returns the unreadable paths."""
    write_image(root / "a" / "good.jpg", seed=1)
    write_image(root / "b" / "good.jpg", seed=2)
    truncated = write_image(root / "a" / "truncated.jpg", seed=3, size=(64, 48))
    (root / "a" / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])
    (root / "a" / "empty.jpg").write_bytes(b"")
    (root / "b" / "notes.jpg").write_text("not an image")
    decompression_bomb_png(root / "b" / "huge.png")
    return sorted(
        str(root / p) for p in ("a/truncated.jpg", "a/empty.jpg", "b/notes.jpg", "b/huge.png")
    )


def test_every_readable_mode_is_stored_as_its_rgb_pixels(tmp_path, write_image, tree_digest):
    source = tmp_path / "source"
    write_image(source / "a" / "boot (1).jpg", seed=1)
    write_image(source / "a" / "gray.jpg", seed=2, mode="L")
    write_image(source / "a" / "cmyk.jpg", seed=3, mode="CMYK")
    write_image(source / "b" / "rgba.png", seed=4, mode="RGBA", format="PNG")
    write_image(source / "b" / "palette.png", seed=5, mode="P", format="PNG")
    write_image(source / "b" / "palette.gif", seed=6, mode="P", format="GIF")
    write_image(source / "b" / "one pixel.png", seed=7, size=(1, 1), format="PNG")
    write_image(source / "b" / "bitmap.bmp", seed=8, format="BMP")
    Image.linear_gradient("L").resize((4000, 3000)).convert("RGB").save(source / "a" / "large.jpg")
    before = tree_digest(source)

    prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "data", name="modes")

    assert tree_digest(source) == before
    records = read_all("image_folder/modes", tmp_path / "data")
    files = sorted(str(p.relative_to(source)) for p in source.rglob("*.*"))
    assert sorted(records) == files
    for name, record in records.items():
        expected = np.asarray(Image.open(source / name).convert("RGB"))
        assert record["image"].shape == expected.shape and record["image"].shape[-1] == 3
        np.testing.assert_array_equal(record["image"], expected, err_msg=name)
        assert record["label"] == ("ab".index(name[0])), name
    stored = read_all("image_folder/modes", tmp_path / "data", decode=False)
    assert stored["a/boot (1).jpg"]["image"] == (source / "a" / "boot (1).jpg").read_bytes()
    assert get_info(dataset="image_folder:modes", data_dir=tmp_path / "data").class_names == (
        "a",
        "b",
    )


def test_unreadable_files_are_all_named_in_one_error(tmp_path, write_image, tree_digest):
    source = tmp_path / "source"
    unreadable = bad_folder(source, write_image)
    before = tree_digest(source)

    with pytest.raises(UnreadableImagesError) as error:
        prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "data", name="bad")

    message = str(error.value)
    assert all(path in message for path in unreadable), message
    assert "good.jpg" not in message and "--skip_bad_images" in message
    assert "DecompressionBombError" in message and "0 bytes" in message
    assert not list((tmp_path / "data").rglob("dataset_info.json"))
    assert tree_digest(source) == before


def test_skip_bad_images_prepares_the_rest_and_lists_skipped_files(tmp_path, write_image):
    source = tmp_path / "source"
    unreadable = bad_folder(source, write_image)
    filler = fill_every_split(source, write_image)

    directory, report = prepare(
        dataset="image_folder",
        source_dir=source,
        data_dir=tmp_path / "data",
        name="bad",
        skip_bad_images=True,
    )

    assert sorted((directory / SKIPPED_FILE).read_text().splitlines()) == unreadable
    assert sorted(item["path"] for item in report["skipped"]) == unreadable
    stored = sorted(read_all("image_folder/bad", tmp_path / "data"))
    assert stored == sorted(["a/good.jpg", "b/good.jpg", *filler])


def test_stray_hidden_and_nested_files_are_ignored_and_reported(tmp_path, write_image):
    source = tmp_path / "source"
    write_image(source / "a" / "x.jpg", seed=1)
    write_image(source / "b" / "y.jpg", seed=2)
    write_image(source / "stray.jpg", seed=3)
    (source / "README.md").write_text("about")
    (source / "a" / ".DS_Store").write_bytes(b"\0\1")
    write_image(source / "b" / "nested" / "z.jpg", seed=4)
    filler = fill_every_split(source, write_image)

    _, report = prepare(dataset="image_folder", source_dir=source, data_dir=tmp_path / "d")

    assert report["ignored"] == ["README.md", "stray.jpg", "a/.DS_Store", "b/nested"]
    stored = sorted(read_all("image_folder/source", tmp_path / "d"))
    assert stored == sorted(["a/x.jpg", "b/y.jpg", *filler])


def test_missing_and_empty_folders_are_clear_errors(tmp_path, write_image):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        prepare(dataset="image_folder", source_dir=tmp_path / "nowhere", data_dir=tmp_path / "d")
    write_image(tmp_path / "flat" / "x.jpg", seed=1)
    with pytest.raises(ValueError, match="No class folders"):
        prepare(dataset="image_folder", source_dir=tmp_path / "flat", data_dir=tmp_path / "d")
    write_image(tmp_path / "src" / "full" / "x.jpg", seed=1)
    (tmp_path / "src" / "empty").mkdir()
    with pytest.raises(ValueError, match=f"Empty class folder.*{re.escape(str(tmp_path))}"):
        prepare(dataset="image_folder", source_dir=tmp_path / "src", data_dir=tmp_path / "d")
    write_image(tmp_path / "kaggle" / "Boot" / "x.jpg", seed=1)
    write_image(tmp_path / "kaggle" / "Shoe" / "x.jpg", seed=2)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "kaggle" / "Sandal"))):
        prepare(dataset="shoe_sandal_boot", source_dir=tmp_path / "kaggle", data_dir=tmp_path / "d")
    assert not list((tmp_path / "d").rglob("dataset_info.json"))


def test_sixteen_bit_images_are_scaled_to_eight_bits_not_clipped(tmp_path, write_image):
    """A 16-bit grayscale ramp keeps its 64 levels (PIL's convert('RGB') would clip all but one
    to white); prepared and decoded for prediction alike."""
    ramp = (np.arange(64, dtype=np.uint16) * 1040).reshape(8, 8)
    (tmp_path / "src" / "a").mkdir(parents=True)
    Image.fromarray(ramp).save(tmp_path / "src" / "a" / "ramp.png")
    write_image(tmp_path / "src" / "b" / "x.png", seed=1, format="PNG")
    source, data = tmp_path / "src", tmp_path / "d"
    prepare(
        dataset="image_folder", source_dir=source, data_dir=data, name="r", evaluation_only=True
    )
    stored = read_all("image_folder/r", tmp_path / "d")["a/ramp.png"]["image"]
    expected = np.round(ramp / 257).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(stored[..., channel], expected)
    decoded = decode_rgb(image=(tmp_path / "src" / "a" / "ramp.png").read_bytes())
    np.testing.assert_array_equal(np.asarray(decoded)[..., 0], expected)


def test_class_folder_names_with_control_characters_are_refused(tmp_path, write_image):
    write_image(tmp_path / "src" / "x\ny" / "a.jpg", seed=1)
    write_image(tmp_path / "src" / "z" / "b.jpg", seed=2)
    with pytest.raises(ValueError, match=r"Class folder 'x\\ny' .* control character"):
        prepare(dataset="image_folder", source_dir=tmp_path / "src", data_dir=tmp_path / "d")
    assert not (tmp_path / "d").exists() or not list((tmp_path / "d").rglob("*.json"))


@pytest.mark.parametrize("nested", [True, False], ids=["kaggle_layout", "plain_layout"])
def test_shoe_sandal_boot_builder_labels_kaggle_class_folders(tmp_path, write_image, nested):
    source = tmp_path / "unzipped"
    root = source / "Shoe vs Sandal vs Boot Dataset" if nested else source
    for seed, folder in enumerate(["Boot", "Sandal", "Shoe"] * 2):
        write_image(root / folder / f"{folder.lower()} ({seed}).jpg", seed=seed)

    prepare(dataset="shoe_sandal_boot", source_dir=source, data_dir=tmp_path / "data")

    records = read_all("shoe_sandal_boot", tmp_path / "data")
    info = get_info(dataset="shoe_sandal_boot", data_dir=tmp_path / "data")
    assert info.class_names == ("boot", "sandal", "shoe") and sum(info.split_sizes.values()) == 6
    assert len(records) == 6
    for name, record in records.items():
        assert info.class_names[record["label"]] == name.split("/")[0].lower(), name


def _zip_folder(folder: Path, archive: Path) -> Path:
    """The folder as a zip archive, with explicit directory entries, as Kaggle's are."""
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, path.relative_to(folder).as_posix())
    return archive


@pytest.mark.parametrize("dataset", ["shoe_sandal_boot", "image_folder"])
def test_a_zip_archive_prepares_the_same_records_and_splits_as_its_folder(
    tmp_path, write_image, tree_digest, dataset
):
    source = tmp_path / "unzipped"
    root = source / "Shoe vs Sandal vs Boot Dataset" if dataset == "shoe_sandal_boot" else source
    for seed in range(45):
        folder = ["Boot", "Sandal", "Shoe"][seed % 3]
        write_image(root / folder / f"{folder.lower()} ({seed}).jpg", seed=seed)
    write_image(root / "Shoe" / "grey (1).png", seed=99, mode="L", format="PNG")  # converted
    archive = _zip_folder(source, tmp_path / "archive.zip")
    before = tree_digest(tmp_path / "unzipped"), archive.read_bytes()
    name = {} if dataset == "shoe_sandal_boot" else {"name": "shoes"}
    tfds_name = dataset if dataset == "shoe_sandal_boot" else "image_folder/shoes"
    from_folder, folder_report = prepare(
        dataset=dataset,
        source_dir=source if dataset == "shoe_sandal_boot" else root,
        data_dir=tmp_path / "a",
        **name,
    )
    from_zip, zip_report = prepare(
        dataset=dataset, source_dir=archive, data_dir=tmp_path / "b", **name
    )
    assert zip_report["split_counts"] == folder_report["split_counts"]
    assert zip_report["duplicate_groups"] == folder_report["duplicate_groups"]
    assert zip_report["content_fingerprint"] == folder_report["content_fingerprint"]
    folder_records = read_all(tfds_name, tmp_path / "a", decode=False)
    zip_records = read_all(tfds_name, tmp_path / "b", decode=False)
    assert len(zip_records) == 46 and zip_records.keys() == folder_records.keys()
    for file_name, record in zip_records.items():
        expected = folder_records[file_name]
        assert (record["split"], record["label"]) == (expected["split"], expected["label"])
        assert record["image"] == expected["image"], file_name
    assert (tree_digest(tmp_path / "unzipped"), archive.read_bytes()) == before
    again, _ = prepare(dataset=dataset, source_dir=archive, data_dir=tmp_path / "b", **name)
    assert again == from_zip  # the unchanged archive is recognised
    with zipfile.ZipFile(archive, "a") as zipped:
        zipped.writestr(
            "Shoe vs Sandal vs Boot Dataset/Boot/new.jpg"
            if dataset == "shoe_sandal_boot"
            else "Boot/new.jpg",
            (root / "Boot" / "boot (0).jpg").read_bytes(),
        )
    with pytest.raises(ValueError, match="has changed since"):
        prepare(dataset=dataset, source_dir=archive, data_dir=tmp_path / "b", **name)
    assert from_folder != from_zip
