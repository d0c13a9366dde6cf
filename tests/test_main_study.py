"""The study config runs its nine cells (three models x zero-shot / few-shot / fine-tuned) into
workdir/<cell> and writes the study report; here with tiny converted checkpoints on digits."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest
from main_cli import run_main

from vit_jax import checkpoints, models
from vit_jax.training import config_defaults

# Tiny stand-ins for the study's three models (distinct names, as the report requires).
TINY_MODELS = {
    "vit": ("ViT-Ti_16", {"hidden_size": 16, "mlp_dim": 32, "num_heads": 2, "num_layers": 1}),
    "resnet50": ("ResNet-50", {"num_layers": [1]}),
    "resnet152": ("ResNet-152", {"num_layers": [1, 1]}),
}
IMAGE_SIZE = (32, 32)


def _converted_checkpoint(directory: Path, name: str, overrides: dict) -> None:
    model = models.create_model(name, num_classes=10, **overrides)
    variables = jax.jit(lambda x: model.init(jax.random.key(0), x, train=False))(
        jnp.zeros((1, *IMAGE_SIZE, 3))
    )
    metadata = {
        "model": name,
        "source_format": "test",
        "source_file": "none",
        "sha256": "none",
        "image_size": list(IMAGE_SIZE),
        "num_classes": 10,
        "head_kept": True,
        "label_names": None,
        "preprocessing": {"value_range": [-1, 1]},
        "model_overrides": overrides,
    }
    checkpoints.save(
        directory=directory, variables=jax.device_get(variables), metadata=metadata, overwrite=False
    )


@pytest.mark.slow
def test_study_runs_every_cell_and_writes_the_report(tmp_path):
    args = [
        "--config=configs/study.py",
        "--config.dataset=digits",
        f"--config.image_size={IMAGE_SIZE}",
        "--config.progress_bar=False",
    ]
    for key, (name, overrides) in TINY_MODELS.items():
        _converted_checkpoint(tmp_path / name, name, overrides)
        for mode in ("zeroshot", "fewshot", "finetune"):
            cell = f"--config.cells.{key}_{mode}"
            args += [f"{cell}.model={name}", f"{cell}.checkpoint_dir={tmp_path / name}"]
        finetune = f"--config.cells.{key}_finetune"
        args += [f"{finetune}.num_epochs=1", f"{finetune}.recipes.study.batch_size=128"]
        args += [f"--config.cells.{key}_fewshot.fewshot.shots=(1,10)"]
    workdir = tmp_path / "study"
    result = run_main(*args, workdir=workdir)
    assert result.returncode == 0, result.stderr[-3000:]

    report = (workdir / "report.md").read_text()
    assert f"study report: {workdir / 'report.md'}" in result.stdout
    started = [line.split(":")[0] for line in result.stdout.splitlines() if "parameters," in line]
    assert started == [
        "ViT (1 layer, hidden 16, MLP 32, heads 2)",
        "ResNet (blocks 1,1)",
        "ResNet (blocks 1)",
    ] * 3  # zero-shot, few-shot, fine-tuned, each in the study's order of models
    assert "few-shot: linear evaluation" in result.stdout
    for heading in ("## Table 1", "## Table 2"):
        table = report.split(heading)[1].split("\n## ")[0]
        rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
        assert rows[1:] == ["ViT-Ti_16", "ResNet-152", "ResNet-50"]
    for key, (name, _) in TINY_MODELS.items():
        for mode in ("zeroshot", "finetune"):
            results = json.loads((workdir / f"{key}_{mode}" / "results.json").read_text())
            assert (results["model"], results["mode"]) == (name, mode)
            assert len(results["history"]) == (1 if mode == "finetune" else 0)
            assert f"{100 * results['splits']['test']['accuracy']:.2f}" in report
        fewshot = json.loads((workdir / f"{key}_fewshot" / "results.json").read_text())
        assert (fewshot["model"], fewshot["mode"], fewshot["splits"]) == (name, "fewshot", {})
        assert [e["shots"] for e in fewshot["fewshot"]] == [1, 10]
        assert all(len(e["accuracies"]) == 5 for e in fewshot["fewshot"])
        ten_shot = fewshot["fewshot"][1]
        assert f"{100 * ten_shot['mean']:.2f} ± {100 * ten_shot['std']:.2f}" in report
    assert sorted(config_defaults.MODELS) == sorted(TINY_MODELS)
    assert (workdir / "figure2_validation.png").is_file()
