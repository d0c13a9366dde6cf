"""main.py on real Shoe vs Sandal vs Boot images (a subset of VIT_JAX_REAL_DATASET or ../shared,
prepared as an image folder): training writes reports consistent with metrics.jsonl, and
zero-shot evaluation of a converted ImageNet-1k checkpoint pools its logits onto
boot/sandal/shoe."""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from checkpoint_writers import imagenet1k_footwear, random_arrays, small_vit_layout
from conftest import REAL_DATASET as REAL
from main_cli import run_main
from scipy.special import logsumexp

from configs import zeroshot_vit
from vit_jax import checkpoints, models
from vit_jax.checkpoints.convert import convert
from vit_jax.data import input_pipeline
from vit_jax.data.prepare import prepare
from vit_jax.training import experiment

pytestmark = pytest.mark.slow
PER_CLASS = 40
DATASET = "image_folder:footwear_subset"
CLASS_FOLDERS = ("Boot", "Sandal", "Shoe")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first PER_CLASS images of each class, copied and prepared."""
    if not REAL.is_dir():
        pytest.skip(f"real dataset not present at {REAL}")
    root = tmp_path_factory.mktemp("real_subset")
    for folder in CLASS_FOLDERS:
        (root / "source" / folder).mkdir(parents=True)
        for path in sorted((REAL / folder).iterdir())[:PER_CLASS]:
            shutil.copy(path, root / "source" / folder / path.name)
    prepare(
        dataset="image_folder",
        source_dir=root / "source",
        data_dir=root / "data",
        name=DATASET.partition(":")[2],
    )
    return root / "data"


def _jsonl(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def test_training_writes_reports_consistent_with_metrics_jsonl(data_dir, tmp_path):
    # bfloat16 compute and 2 accumulated micro-batches per update: the fields run end to end.
    workdir = tmp_path / "run"
    result = run_main(
        "--config=configs/quickstart.py",
        f"--config.dataset={DATASET}",
        f"--config.data_dir={data_dir}",
        "--config.image_size=(32,32)",
        "--config.model_overrides.patches=(8,8)",
        "--config.model_overrides.num_layers=1",
        "--config.num_epochs=2",
        "--config.recipes.quickstart.batch_size=16",
        "--config.recipes.quickstart.grad_accum_steps=2",
        "--config.recipes.quickstart.warmup_steps=2",
        "--config.dtype=bfloat16",
        "--config.eval_batch_size=16",
        "--config.log_every_steps=2",
        "--config.progress_bar=False",
        workdir=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("results.json", "results.md", "val_curves.png", "runtime.png", "checkpoints"):
        assert (workdir / name).exists(), name
    assert list((workdir / "tensorboard").iterdir())

    info = input_pipeline.get_info(dataset=DATASET, data_dir=str(data_dir))
    steps_per_epoch = info.split_sizes["train"] // 16
    results = json.loads((workdir / "results.json").read_text())
    lines = _jsonl(workdir)
    validation = {line["step"]: line for line in lines if line["split"] == "validation"}
    assert [entry["step"] for entry in results["history"]] == [steps_per_epoch, 2 * steps_per_epoch]
    assert sorted(validation) == [steps_per_epoch, 2 * steps_per_epoch]
    for epoch, entry in enumerate(results["history"], start=1):
        line = validation[entry["step"]]
        assert entry["epoch"] == epoch
        assert (entry["val_loss"], entry["val_accuracy"], entry["val_f1_macro"]) == (
            line["loss"],
            line["accuracy"],
            line["f1_macro"],
        )
    (test_line,) = [line for line in lines if line["split"] == "test"]
    assert test_line["step"] == 2 * steps_per_epoch
    for split, line in (("test", test_line), ("validation", validation[2 * steps_per_epoch])):
        metrics = results["splits"][split]
        assert {k: v for k, v in line.items() if k not in ("step", "split")} == metrics
        matrix = np.array(metrics["confusion_matrix"])
        assert matrix.sum() == info.split_sizes[split]
        assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
        supports = [metrics["per_class"][name]["support"] for name in info.class_names]
        assert supports == matrix.sum(axis=1).tolist()
    train_lines = [line for line in lines if line["split"] == "train"]
    assert train_lines[-1]["step"] == 2 * steps_per_epoch
    assert all(np.isfinite(line["loss"]) and line["learning_rate"] >= 0 for line in train_lines)
    assert results["train_seconds"] > 0
    assert f"{100 * test_line['accuracy']:.2f}" in (workdir / "results.md").read_text()


def _footwear_groups() -> dict[str, list[int]]:
    """ImageNet-1k indices per study class, read from the project's reference table."""
    groups: dict[str, list[int]] = {}
    for row in imagenet1k_footwear():
        if row["group"] in CLASS_FOLDERS:
            groups.setdefault(row["group"], []).append(row["index"])
    return groups


@pytest.fixture(scope="module")
def imagenet_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ViT-Ti/16 .npz at 32x32 with a random 1000-class head, converted with its head kept.

    The head is scaled up so that logits differ by several units between classes and images."""
    root = tmp_path_factory.mktemp("imagenet_checkpoint")
    shapes = small_vit_layout(
        layers=12, hidden=192, mlp=768, heads=3, tokens=1 + 2 * 2, classes=1000, pre_logits=False
    )
    arrays = random_arrays(shapes, seed=0)
    arrays["head/kernel"] = arrays["head/kernel"] * 100
    np.savez(root / "vit_ti16.npz", **arrays)
    convert(input=root / "vit_ti16.npz", model="ViT-Ti_16", output=root / "ckpt", keep_head=True)
    return root / "ckpt"


def test_zeroshot_imagenet_head_pools_logits_onto_footwear(data_dir, imagenet_checkpoint, tmp_path):
    workdir = tmp_path / "zeroshot"
    result = run_main(
        "--config=configs/zeroshot_vit.py",
        "--config.model=ViT-Ti_16",
        f"--config.checkpoint_dir={imagenet_checkpoint}",
        "--config.head=imagenet1k",
        f"--config.dataset={DATASET}",
        f"--config.data_dir={data_dir}",
        "--config.image_size=(32,32)",
        "--config.eval_batch_size=16",
        workdir=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert results["mode"] == "zeroshot" and results["history"] == []

    loaded = checkpoints.load(directory=imagenet_checkpoint)
    model = models.create_model("ViT-Ti_16", num_classes=1000, **loaded.metadata["model_overrides"])
    apply = jax.jit(lambda images: model.apply(loaded.variables, images, train=False))
    groups = _footwear_groups()
    for split in ("validation", "test"):
        batches = list(
            input_pipeline.create_loader(
                dataset=DATASET,
                data_dir=str(data_dir),
                split=split,
                batch_size=16,
                image_size=(32, 32),
                preprocessing=loaded.metadata["preprocessing"],
                train=False,
                seed=0,
            )
        )
        real = np.concatenate([b["mask"] for b in batches]) > 0
        labels = np.concatenate([b["label"] for b in batches])[real]
        logits = np.concatenate([np.asarray(apply(b["image"])) for b in batches])[real]
        pooled = np.stack([logsumexp(logits[:, groups[c]], axis=1) for c in CLASS_FOLDERS], 1)
        predictions = pooled.argmax(axis=1)
        matrix = np.zeros((3, 3), int)
        np.add.at(matrix, (labels, predictions), 1)
        metrics = results["splits"][split]
        assert metrics["confusion_matrix"] == matrix.tolist()
        # The loss depends on every pooled logit, so it also checks indices and pooling where
        # the predictions agree (a random head favours one class on most images).
        loss = np.mean(logsumexp(pooled, axis=1) - pooled[np.arange(len(labels)), labels])
        assert metrics["loss"] == pytest.approx(loss, rel=1e-5)


def test_checkpoint_that_does_not_fit_the_config_is_rejected(
    data_dir, imagenet_checkpoint, tmp_path
):
    config = zeroshot_vit.get_config()
    config.update(
        checkpoint_dir=str(imagenet_checkpoint),
        dataset=DATASET,
        data_dir=str(data_dir),
        image_size=(32, 32),
    )
    with pytest.raises(
        experiment.ConfigError, match="holds a ViT-Ti_16 but config.model='ViT-B_16'"
    ):
        experiment.build(config)
    config.model = "ViT-Ti_16"
    config.model_overrides.num_layers = 2
    # 10 encoder blocks too many, 16 arrays each.
    message = r"model_overrides=\{'num_layers': 2\}: 160 mismatches, e.g. .*: not in the model"
    with pytest.raises(experiment.ConfigError, match=message):
        experiment.build(config)
    config.model_overrides = {}
    config.head = "imagenet1k"
    config.checkpoint_dir = str(tmp_path / "three_classes")
    convert(
        input=imagenet_checkpoint.parent / "vit_ti16.npz",
        model="ViT-Ti_16",
        output=tmp_path / "three_classes",
        num_classes=3,
    )
    with pytest.raises(experiment.ConfigError, match="needs a checkpoint with its 1000-class"):
        experiment.build(config)
