"""Bad input stops a run at once with a message naming the fault (and the command that fixes a
missing dataset or checkpoint); a non-finite loss stops training, keeping the last good checkpoint.
"""

import jax
import pytest
from main_cli import TINY_ARGS, run_main

from configs import finetune_vit, quickstart
from vit_jax.training import command_line, experiment


def _quickstart(**fields):
    config = quickstart.get_config()
    for name, value in fields.items():
        target = config
        *parents, leaf = name.split(".")
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return config


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model": "ViT-X_99"}, "config.model='ViT-X_99' is not one of ("),
        ({"mode": "train"}, "mode='train' is not one of ('zeroshot', 'fewshot', 'finetune')"),
        ({"recipe": "fast"}, "config.recipe='fast' is not one of"),
        ({"recipes.quickstart.optimizer": "lamb"}, "optimizer='lamb' is not one of"),
        (
            {"recipes.quickstart.batch_size": 30, "recipes.quickstart.grad_accum_steps": 4},
            "batch_size=30 is not divisible by grad_accum_steps=4",
        ),
        ({"num_classes": 5}, "config.num_classes=5 but dataset 'digits' has 10 classes"),
        ({"image_size": (10, 10)}, "config.image_size=(10, 10) is not divisible by the patch"),
        ({"head": "imagenet1k"}, "needs mode='zeroshot' and init='checkpoint'"),
        ({"mode": "zeroshot"}, "it needs init='checkpoint'"),
    ],
)
def test_config_values_that_cannot_work_are_rejected(fields, message):
    with pytest.raises(experiment.ConfigError) as error:
        experiment.build(_quickstart(**fields))
    assert message in str(error.value)


def test_batch_not_divisible_by_the_device_count_is_rejected(monkeypatch):
    monkeypatch.setattr(jax, "device_count", lambda: 8)
    config = _quickstart(**{"recipes.quickstart.batch_size": 36})
    with pytest.raises(experiment.ConfigError, match="batch_size / grad_accum_steps=36 is not"):
        experiment.check_config(config)
    config = _quickstart(eval_batch_size=20)
    with pytest.raises(
        experiment.ConfigError, match="eval_batch_size=20 is not divisible by the 8"
    ):
        experiment.check_config(config)


def test_missing_checkpoint_names_the_conversion_command(tmp_path):
    config = _quickstart(init="checkpoint", checkpoint_dir=str(tmp_path / "ViT-Ti_16_digits"))
    with pytest.raises(FileNotFoundError, match="python -m vit_jax.convert_checkpoint"):
        experiment.build(config)


def test_missing_dataset_stops_main_with_the_prepare_command(tmp_path):
    workdir = tmp_path / "run"
    result = run_main(
        "--config=configs/finetune_vit.py",
        f"--config.data_dir={tmp_path / 'empty'}",
        workdir=workdir,
    )
    assert result.returncode == 1
    assert "python -m vit_jax.prepare_data --dataset shoe_sandal_boot" in result.stderr
    assert "Traceback" not in result.stderr
    assert not workdir.exists()
    assert finetune_vit.__doc__ and "python -m vit_jax.prepare_data" in finetune_vit.__doc__


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    # A learning rate of 1e38 (NaN is refused as a config value). The warm-up starts at 0, so
    # step 2 makes the first update; it moves the parameters by ~1e37, the attention logits of
    # step 3 overflow and its loss is not finite. Steps 1 and 2 are computed and saved.
    workdir = tmp_path / "run"
    result = run_main(
        *TINY_ARGS,
        "--config.recipes.quickstart.learning_rate=1e38",
        "--config.checkpoint_every_steps=1",
        workdir=workdir,
    )
    assert result.returncode == 1
    assert "is not finite at step 3; the run stopped" in result.stderr
    assert "The last good checkpoint (step 2) is kept" in result.stderr
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == 2
    assert not (workdir / "results.json").exists()


def test_a_warm_up_longer_than_the_run_is_shortened_with_a_warning(capsys):
    exp = experiment.build(_quickstart(**{"recipes.quickstart.warmup_steps": 10_000}))
    assert exp.recipe.warmup_steps == exp.steps_per_epoch * 20 // 2
    assert "warmup_steps=10000 is not below the" in capsys.readouterr().err


def test_a_missing_dataset_and_checkpoint_are_reported_together(tmp_path):
    config = finetune_vit.get_config()
    config.data_dir = str(tmp_path / "no_data")
    config.checkpoint_dir = str(tmp_path / "no_checkpoint")
    with pytest.raises(FileNotFoundError) as error:
        experiment.build(config)
    message = str(error.value)
    assert "python -m vit_jax.prepare_data --dataset shoe_sandal_boot" in message
    assert f"--input vit-b16-in1k --output {tmp_path / 'no_checkpoint'}" in message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("def get_config(:\n", "invalid syntax at line 1 (SyntaxError)"),
        (
            "def get_config():\n    raise RuntimeError('boom')\n",
            "failed at line 2: RuntimeError: boom",
        ),
        ("x = 1\n", "defines no get_config()"),
        ("import no_such_module\n", "ModuleNotFoundError: No module named 'no_such_module'"),
    ],
)
def test_a_config_file_that_gives_no_config_is_named_in_one_line(tmp_path, text, message):
    path = tmp_path / "mine.py"
    path.write_text(text)
    assert message in command_line._config_file_problem(str(path))
    assert command_line._config_file_problem("configs/quickstart.py") is None
