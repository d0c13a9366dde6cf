"""vit_jax.benchmark: the command runs a tiny case against PyTorch and prints a table and JSON lines
whose numbers agree with each other and with an independent FLOP count; the loop case's
arithmetic over the training loop's log windows; bad arguments are rejected."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from main_cli import subprocess_env

from vit_jax import benchmark
from vit_jax.bench.loop_case import loop_images_per_second
from vit_jax.common import runtime

ROOT = Path(__file__).resolve().parents[1]


def vit_ti16_forward_flops(*, image_size: int, batch: int) -> float:
    """Multiply-add FLOPs (2 per MAC) of ViT-Ti/16's matrix products (Table 1: D=192, MLP 768,
    12 layers) with a 1000-class head."""
    width, mlp, layers, patch = 192, 768, 12, 16
    patches = (image_size // patch) ** 2
    tokens = patches + 1
    embedding = patches * patch * patch * 3 * width
    per_layer = 4 * tokens * width * width + 2 * tokens * width * mlp + 2 * tokens * tokens * width
    head = width * 1000
    return 2.0 * batch * (embedding + layers * per_layer + head)


@pytest.fixture(scope="module")
def tiny_run():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    command = [
        sys.executable, "-m", "vit_jax.benchmark", "--model", "ViT-Ti_16", "--mode", "infer,train",
        "--batch_size", "2", "--image_size", "32", "--compare", "pytorch", "--repeats", "2",
        "--min_run_seconds", "0.05", "--json",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    cases = [json.loads(line) for line in lines if line.startswith("{")]
    return lines, cases


def test_prints_summary_table_with_one_row_per_case(tiny_run):
    lines, cases = tiny_run
    header = next(i for i, line in enumerate(lines) if line.startswith("model ") and "load" in line)
    rows = [line.split() for line in lines[header + 2 : header + 4]]
    assert [(row[0], row[1]) for row in rows] == [("ViT-Ti_16", "infer"), ("ViT-Ti_16", "train")]
    for row, case in zip(rows, cases, strict=True):
        assert float(row[4]) == pytest.approx(case["jax"]["images_per_second"], abs=0.01)
        assert float(row[8]) == pytest.approx(case["ratio"], abs=0.001)
    assert any(line.startswith("matmul peak, start and end: float32 jax") for line in lines)


def test_json_lines_are_consistent(tiny_run):
    _, cases = tiny_run
    assert [(c["model"], c["mode"], c["batch_size"], c["image_size"]) for c in cases] == [
        ("ViT-Ti_16", "infer", 2, 32),
        ("ViT-Ti_16", "train", 2, 32),
    ]
    for case in cases:
        assert len(case["loadavg"]) == 3 and case["dtype"] == "float32"
        assert case["pytorch"]["compiled"] is False  # auto: torch.compile only on CUDA
        for framework in ("jax", "pytorch"):
            result = case[framework]
            assert len(result["step_seconds_runs"]) == 2
            assert result["images_per_second"] == pytest.approx(2 / result["step_seconds"])
            assert result["flops_per_second"] == pytest.approx(
                result["flops_per_step"] / result["step_seconds"]
            )
            assert result["peak_fraction"] == pytest.approx(
                result["flops_per_second"] / case["peak_flops_per_second"]
            )
            assert 0 < result["peak_fraction"] < 2
        assert case["ratio"] == pytest.approx(
            case["jax"]["images_per_second"] / case["pytorch"]["images_per_second"]
        )


def test_xla_cost_analysis_counts_the_model_flops(tiny_run):
    _, (infer, train) = tiny_run
    expected = vit_ti16_forward_flops(image_size=32, batch=2)
    assert infer["jax"]["flops_per_step"] == pytest.approx(expected, rel=0.05)
    # Forward plus backward (two products per forward product), plus the optimizer.
    assert 2.5 * expected < train["jax"]["flops_per_step"] < 4 * expected


def test_loop_images_per_second_skips_the_compilation_window(tmp_path):
    path = tmp_path / "metrics.jsonl"
    windows = [(10, 1.0), (20, 100.0), (25, 50.0)]  # (step, images per second) of 4-image steps
    lines = [{"step": step, "split": "train", "images_per_second": ips} for step, ips in windows]
    lines.insert(2, {"step": 20, "split": "validation", "accuracy": 0.5})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    # Windows 2 and 3: 40 images in 0.4 s and 20 images in 0.4 s.
    images_per_second, steps = loop_images_per_second(metrics_path=path, batch_size=4)
    assert images_per_second == pytest.approx(60 / 0.8)
    assert steps == 15


def test_loop_needs_two_logged_windows(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 5, "split": "train", "images_per_second": 3.0}) + "\n")
    with pytest.raises(ValueError, match="lower --loop_log_every"):
        loop_images_per_second(metrics_path=path, batch_size=4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "ViT-Q_16"], "--model 'ViT-Q_16' is not one of"),
        (["--mode", "infer,fit"], "--mode 'fit' is not one of"),
        (["--batch_size", "0"], "must be >= 1"),
    ],
)
def test_bad_arguments_are_rejected(argv, message, capsys):
    with pytest.raises(SystemExit):
        benchmark.parse_args(argv)
    assert message in capsys.readouterr().err


def test_user_runtime_win_over_ours(monkeypatch):
    monkeypatch.setattr(runtime, "FLAGS", {"--xla_a": "1", "--xla_b": "2"})
    assert runtime.merged(current="--xla_b=7 --xla_c=3") == "--xla_b=7 --xla_c=3 --xla_a=1"


@pytest.mark.parametrize(
    ("setting", "memory", "platforms", "applied"),
    [
        (None, 64, "cpu", True),
        ("1", 64, "cpu", True),
        ("0", 64, "cpu", False),
        (None, 15.5, "cpu", False),  # a 16 GB laptop: off, and said so
        ("1", 15.5, "cpu", True),
        (None, 64, "cuda", False),  # computing on a GPU: no host allocator trade
    ],
)
def test_allocator_settings_apply_on_cpu_with_enough_memory_unless_turned_off(
    monkeypatch, capsys, setting, memory, platforms, applied
):
    calls = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(runtime, "memory_gib", lambda: memory)
    monkeypatch.setenv("JAX_PLATFORMS", platforms)
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))
    if setting is None:
        monkeypatch.delenv("VIT_JAX_KEEP_FREED_MEMORY", raising=False)
    else:
        monkeypatch.setenv("VIT_JAX_KEEP_FREED_MEMORY", setting)
    assert runtime.apply() is applied
    assert len(calls) == int(applied)
    said = "C allocator settings off: 15.5 GiB" in capsys.readouterr().err
    assert said == (setting is None and memory < runtime.MIN_MEMORY_GIB and platforms == "cpu")


def test_the_benchmark_runs_with_only_jax_flax_optax_and_numpy():
    """A lent GPU machine may have only jax, flax, optax and numpy, and cannot install the rest;
    one command measures inference and training there, each case against the peak of its own
    precision (bfloat16 here; float32 cases are the other tests')."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tests" / "without_packages.py"),
            *("--model", "ViT-Ti_16", "--mode", "train,infer", "--batch_size", "2"),
            *("--repeats", "1", "--image_size", "32", "--dtype", "bfloat16", "--json"),
            *("--min_run_seconds", "0.05"),
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    cases = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(c["mode"], c["dtype"]) for c in cases] == [
        ("train", "bfloat16"),
        ("infer", "bfloat16"),
    ]

    def bfloat16_peak(when: str) -> float:  # GFLOP/s as printed, rounded to 0.1
        found = re.search(rf"matmul peak{when}: bfloat16 jax ([\d.]+);", result.stdout)
        return float(found[1]) * 1e9

    # Each case's peak is the best bfloat16 matmul so far: between the first and the last.
    first, last = bfloat16_peak(" at start"), bfloat16_peak(", start and end")
    for case in cases:
        peak = case["jax"]["flops_per_second"] / case["jax"]["peak_fraction"]
        assert peak == pytest.approx(case["peak_flops_per_second"])
        assert first - 0.051e9 <= peak <= last + 0.051e9


@pytest.mark.parametrize(
    "option, device, compiled",
    [("auto", "cuda", True), ("auto", "cpu", False), ("yes", "cpu", True), ("no", "cuda", False)],
)
def test_the_pytorch_side_is_compiled_on_cuda_or_when_asked(option, device, compiled, monkeypatch):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from vit_jax.bench import cases, torch_models

    args = benchmark.parse_args(["--compare", "pytorch", "--torch_compile", option])
    assert cases.torch_compiled(args=args, device=device) is compiled
    wrapped = []
    monkeypatch.setattr(torch, "compile", lambda model: wrapped.append(model) or model)
    model = torch_models.create_model(
        name="ViT-Ti_16", num_classes=3, image_size=(32, 32), device="cpu"
    )
    batch = cases.synthetic_batch(batch_size=2, image_size=(32, 32))
    step = torch_models.make_train(
        model=model,
        images=batch["image"],
        labels=batch["label"] % 3,
        adamw=cases.ADAMW,
        dtype="float32",
        device="cpu",
        compiled=compiled,
    )
    step()
    assert wrapped == ([model] if compiled else [])
