"""Hugging Face export: the folder loads in transformers (ViTForImageClassification,
ResNetForImageClassification) with logits equal to ours, and the image-classification pipeline
picks the same top class as `predict` on image files; models without a Hugging Face class are
refused."""

import numpy as np
import pytest
import torch
from checkpoint_writers import SMALL_VIT, random_checkpoint
from PIL import Image
from transformers import (
    AutoImageProcessor,
    ResNetForImageClassification,
    ViTForImageClassification,
    pipeline,
)

from vit_jax import checkpoints, convert_checkpoint, export, models, predict
from vit_jax.checkpoints.formats.source import ConversionError
from vit_jax.checkpoints.hf_export import write_hf_folder
from vit_jax.data.preprocessing import model_pixels, normalise, parse_preprocessing

TOLERANCE = 1e-4


def logits_ours(directory, images: np.ndarray) -> np.ndarray:
    loaded = checkpoints.load(directory=directory)
    meta = loaded.metadata
    network = models.create_model(
        meta["model"], num_classes=meta["num_classes"], **meta["model_overrides"]
    )
    return np.asarray(network.apply(loaded.variables, images, train=False))


def logits_torch(model_class, folder, images: np.ndarray) -> np.ndarray:
    model = model_class.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(torch.from_numpy(images.transpose(0, 3, 1, 2))).logits.numpy()


def exported(tmp_path, source) -> str:
    output = tmp_path / "hf"
    assert (
        export.main(["--checkpoint", str(source), "--format", "hf", "--output", str(output)]) == 0
    )
    return str(output)


def test_small_vit_logits_equal_and_the_pipeline_agrees_with_predict(tmp_path, capsys):
    source = random_checkpoint(
        tmp_path / "ours",
        model="ViT-Ti_16",
        num_classes=5,
        image_size=(16, 16),
        seed=0,
        **SMALL_VIT,
    )
    folder = exported(tmp_path, source)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)).astype(np.float32)
    difference = np.abs(
        logits_ours(source, images) - logits_torch(ViTForImageClassification, folder, images)
    )
    assert difference.max() <= TOLERANCE

    rng = np.random.default_rng(1)
    paths = []
    for i in range(6):
        paths.append(tmp_path / "images" / f"{i}.png")
        paths[-1].parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(paths[-1])
    capsys.readouterr()
    assert predict.main(["--checkpoint", str(source), str(tmp_path / "images")]) == 0
    ours = {
        line.split(": ")[0]: line.split(": ")[1].split()[0]
        for line in capsys.readouterr().out.splitlines()
    }
    classify = pipeline("image-classification", model=folder)
    for path in paths:
        assert classify(str(path))[0]["label"] == ours[str(path)]

    # Back again, the sizes read from config.json (no --model): the same model and logits.
    back = tmp_path / "back"
    args = ["--input", folder, "--output", str(back), "--keep_head"]
    assert convert_checkpoint.main(args) == 0
    meta = checkpoints.load(directory=back).metadata
    assert models.label(meta["model"], overrides=meta["model_overrides"]) == models.label(
        "ViT-Ti_16", overrides=SMALL_VIT
    )
    assert np.abs(logits_ours(back, images) - logits_ours(source, images)).max() <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, model_class, size",
    [("ViT-B_16", ViTForImageClassification, 224), ("ResNet-50", ResNetForImageClassification, 64)],
)
def test_full_size_logits_equal(tmp_path, model, model_class, size):
    source = random_checkpoint(
        tmp_path / "ours", model=model, num_classes=3, image_size=(size, size), seed=2
    )
    folder = exported(tmp_path, source)
    images = np.random.default_rng(3).uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    ours = logits_ours(source, images)
    assert np.abs(ours[0] - ours[1]).max() > 1e-2  # the images give different logits
    difference = np.abs(ours - logits_torch(model_class, folder, images))
    # float32 rounding grows with the logits (a random ResNet-50's reach several units here).
    assert difference.max() <= TOLERANCE * max(1.0, np.abs(ours).max()), difference.max()
    # Back again without --model: the model named by config.json, the same logits.
    args = ["--input", folder, "--output", str(tmp_path / "back"), "--keep_head"]
    assert convert_checkpoint.main(args) == 0
    assert checkpoints.load(directory=tmp_path / "back").metadata["model"] == model
    again = np.abs(logits_ours(tmp_path / "back", images) - ours)
    assert again.max() <= TOLERANCE * max(1.0, np.abs(ours).max()), again.max()


def test_models_without_a_hugging_face_class_are_refused(tmp_path):
    source = random_checkpoint(
        tmp_path / "bit",
        model="BiT-R50x1",
        num_classes=2,
        image_size=(32, 32),
        seed=6,
        num_layers=(1, 1, 1, 1),
    )
    loaded = checkpoints.load(directory=source)
    with pytest.raises(ConversionError, match="BiT-R50x1 has no Hugging Face class"):
        write_hf_folder(
            variables=loaded.variables,
            metadata=loaded.metadata,
            output=tmp_path / "hf",
            overwrite=False,
        )
    assert not (tmp_path / "hf").exists()


def test_an_overwrite_never_deletes_a_folder_that_also_holds_other_files(tmp_path, capsys):
    """export --format hf --overwrite onto a folder with a config.json and the user's own files
    is refused in one line; nothing there is touched. Onto its own export it replaces it."""
    source = random_checkpoint(
        tmp_path / "vit",
        model="ViT-Ti_16",
        num_classes=2,
        image_size=(32, 32),
        seed=3,
        **SMALL_VIT,
    )
    target = tmp_path / "project"
    (target / "src").mkdir(parents=True)
    for name, text in (("config.json", "{}"), ("src/app.py", "print()"), ("precious.txt", "x")):
        (target / name).write_text(text)
    args = ["--checkpoint", str(source), "--format", "hf", "--output", str(target)]
    assert export.main([*args, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "precious.txt, which is not part of" in err
    assert {p.name for p in target.iterdir()} == {"config.json", "src", "precious.txt"}
    assert (target / "src" / "app.py").read_text() == "print()"
    fresh = tmp_path / "hf"
    assert export.main(args[:-1] + [str(fresh)]) == 0
    assert export.main(args[:-1] + [str(fresh)]) == 1  # exists: needs --overwrite
    assert export.main([*args[:-1], str(fresh), "--overwrite"]) == 0
    assert {p.name for p in fresh.iterdir()} == {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    }


def test_a_cropping_checkpoint_exports_a_processor_that_crops_the_same(tmp_path):
    """A checkpoint evaluated with a shortest-edge resize and centre crop (Hugging Face's floor
    offset) exports a processor config whose pixels equal the project's."""
    source = random_checkpoint(
        tmp_path / "ours",
        model="ViT-Ti_16",
        num_classes=2,
        image_size=(16, 16),
        seed=4,
        **SMALL_VIT,
    )
    loaded = checkpoints.load(directory=source)
    preprocessing = {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize_method": "bicubic",
        "resize_shortest_edge": 256,
        "crop_size": 224,
        "crop_offset": "floor",
    }
    metadata = {**loaded.metadata, "preprocessing": preprocessing}
    folder = write_hf_folder(
        variables=loaded.variables, metadata=metadata, output=tmp_path / "hf", overwrite=False
    )
    processor = AutoImageProcessor.from_pretrained(folder, backend="pil")
    normalisation = parse_preprocessing(preprocessing=preprocessing)
    rng = np.random.default_rng(5)
    for width, height in [(31, 23), (20, 45)]:
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        theirs = processor(images=image, return_tensors="np")["pixel_values"][0].transpose(1, 2, 0)
        pixels = model_pixels(image=image, size=(16, 16), normalisation=normalisation)
        ours = normalise(pixels=pixels, normalisation=normalisation)
        assert np.abs(ours - theirs).max() < 1e-5
