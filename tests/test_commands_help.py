"""Every command's --help exits 0 and shows its options with defaults and two examples; the
design card's command runs as written (no --workdir), also for a one-epoch quick start."""

import subprocess
import sys

import pytest
from main_cli import ROOT, TINY_ARGS, subprocess_env

from vit_jax import (
    benchmark,
    benchmark_convert,
    benchmark_input,
    convert_checkpoint,
    evaluate,
    export,
    fewshot,
    inspect,
    predict,
    prepare_data,
)

COMMANDS = [
    convert_checkpoint,
    prepare_data,
    benchmark,
    export,
    predict,
    evaluate,
    fewshot,
    inspect,
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda module: module.__name__)
def test_help_exits_0_with_defaults_and_examples(command, capsys):
    main = command.parse_args if command is benchmark else command.main
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "(default:" in text and "examples:" in text
    examples = text.split("examples:")[1]
    assert examples.count("python -m vit_jax.") == 2


def test_convert_help_lists_the_model_names(capsys):
    with pytest.raises(SystemExit):
        convert_checkpoint.main(["--help"])
    assert "ViT-B_16, ViT-B_32" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


@pytest.mark.parametrize("command", [benchmark_input, benchmark_convert])
def test_benchmark_helpers_have_help(command):
    result = subprocess.run(
        [sys.executable, "-m", command.__name__, "--help"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "usage:" in result.stdout


def test_main_help_exits_0_and_points_to_the_config_fields():
    result = subprocess.run(
        [sys.executable, "main.py", "--help"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert "--print_config" in result.stdout and "configs/common.py" in result.stdout
    assert result.stdout.split("examples:")[1].count("python main.py") == 3


def test_the_design_card_command_runs_without_workdir_and_one_epoch(tmp_path):
    args = [a for a in TINY_ARGS if "warmup_steps" not in a and "num_epochs" not in a]
    args = [a.replace("configs/", f"{ROOT}/configs/") for a in args]
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args, "--config.num_epochs=1"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "workdir: runs/quickstart (give --workdir to choose another)" in result.stdout
    assert "warming up for 4 instead" in result.stderr  # 100 warm-up steps, 9 updates
    assert (tmp_path / "runs" / "quickstart" / "results.json").is_file()


def test_print_config_shows_the_resolved_config_and_exits(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "main.py"),
            "--config",
            str(ROOT / "configs" / "quickstart.py"),
            "--config.num_epochs=7",
            "--print_config",
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "num_epochs: 7" in result.stdout
    assert not (tmp_path / "runs").exists()
