"""Every command's --help exits 0 and shows its options with defaults and two examples that
parse as printed, without importing the libraries its work needs; the design card's command
runs as written (no --workdir), also for a one-epoch quick start; every config override the
docs cite works as written."""

import argparse
import re
import shlex
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
    assert "examples:" in text
    examples = text.split("examples:")[1]
    assert examples.count("python -m vit_jax.") == 2


def test_convert_help_lists_the_model_names(capsys):
    with pytest.raises(SystemExit):
        convert_checkpoint.main(["--help"])
    assert "ViT-B_16, ViT-B_32" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


ALL_COMMANDS = [*COMMANDS, benchmark_input, benchmark_convert]


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda module: module.__name__)
def test_every_option_has_help_and_every_example_parses_as_printed(command):
    parser = command.build_parser()
    for action in parser._actions:
        assert action.help, f"{command.__name__} {action.option_strings} has no help line"
    text = parser.format_help()
    assert "('" not in text and "')" not in text, "choices shown as a Python tuple"
    shown = [a for a in parser._actions if a.default not in (None, False, argparse.SUPPRESS)]
    assert "(default: None)" not in text
    flat = " ".join(text.split())
    assert len(re.findall(r"\(default:", text)) >= len(shown) and ") (default:" not in flat
    examples = parser.epilog.split("examples:\n")[1].replace("\\\n", " ")
    lines = [line for line in examples.splitlines() if line.strip()]
    assert len(lines) == 2
    for line in lines:
        argv = shlex.split(line, comments=True)
        assert argv[:3] == ["python", "-m", command.__name__], line
        parser.parse_args(argv[3:])  # exits with status 2 if the example does not parse


LIGHT_HELP = [
    "main.py",
    *(m.__name__ for m in ALL_COMMANDS if m not in (convert_checkpoint, benchmark)),
]


def test_help_imports_none_of_the_libraries_the_work_needs():
    """--help answers at once: no JAX (nor grain, TFDS, Orbax, matplotlib, torch) is imported,
    except for the model names that convert_checkpoint and benchmark list."""
    script = """
import runpy, sys
heavy = ("jax", "grain", "tensorflow_datasets", "orbax", "matplotlib", "torch")
for target in sys.argv[1:]:
    before = set(sys.modules)
    sys.argv[1:] = ["--help"]
    try:
        if target.endswith(".py"):
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__")
    except SystemExit:
        pass
    loaded = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(heavy))
    print(target, *loaded, file=sys.stderr)
"""
    for target in LIGHT_HELP:
        result = subprocess.run(
            [sys.executable, "-c", script, target],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.stderr.strip().splitlines()[-1] == target, result.stderr[-2000:]


def test_main_help_exits_0_and_points_to_the_config_fields():
    result = subprocess.run(
        [sys.executable, "main.py", "--help"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert "--print_config" in result.stdout
    assert "vit_jax/training/config_defaults.py" in result.stdout
    assert result.stdout.split("examples:")[1].count("python main.py") == 4


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


PLACEHOLDER = re.compile(r"[A-Z]|^<|^\.\.\.$|^\{")


def documented_overrides() -> list[tuple[str, str]]:
    """(field, value) of every --config.FIELD=VALUE the README, docs/, configs/ and the package
    cite; values that stand for the user's own (PATH, N, ...) are None."""
    sources = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("configs/*.py")]
    sources += [ROOT / "main.py", *ROOT.glob("vit_jax/**/*.py")]
    found = set()
    for path in sources:
        for field, value in re.findall(r"--config\.([\w.<>]+)=([^\s`\"]*)", path.read_text()):
            if PLACEHOLDER.search(field):
                continue  # --config.FIELD=VALUE, --config.<field>=<value>
            value = value.strip("'").rstrip(".,;:")
            if value.count(")") > value.count("("):  # the sentence's parenthesis
                value = value[:-1].rstrip(".,;:")
            for choice in value.split("|"):
                found.add((field, None if PLACEHOLDER.search(choice) or not choice else choice))
    return sorted(found, key=str)


def test_every_documented_config_override_works_as_written():
    """Each cited override names a field of the config it is written for (the quick start, a
    study experiment or the study itself) and its value is accepted there (--print_config)."""
    from configs import quickstart, study
    from vit_jax.training import config_defaults

    configs = {
        "configs/finetune_vit.py": config_defaults.get_config(model="vit", mode="finetune"),
        "configs/quickstart.py": quickstart.get_config(),
        "configs/study.py": study.get_config(),
    }
    fields = {name: set(_fields(config.to_dict())) for name, config in configs.items()}
    overrides = documented_overrides()
    assert len(overrides) >= 20
    runs = {name: [] for name in configs}
    for field, value in overrides:
        homes = [name for name in configs if field in fields[name]]
        assert homes, f"--config.{field} is documented but no config has that field"
        if value is not None:
            runs[homes[0]].append(f"--config.{field}={value}")
    for name, args in runs.items():
        result = subprocess.run(
            [sys.executable, "main.py", f"--config={name}", *args, "--print_config"],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (name, args, result.stderr[-2000:])
        printed = result.stdout.replace(" ", "")
        for arg in args:
            field, value = arg.removeprefix("--config.").split("=", 1)
            last = field.split(".")[-1]
            assert f"{last}:" in printed, (name, arg)
    assert any("model_overrides.kernels" in arg for arg in runs["configs/finetune_vit.py"])


def _fields(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        yield prefix + key
        if isinstance(value, dict):
            yield from _fields(value, prefix=f"{prefix}{key}.")
